package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/journal"
)

// retentionFlags are the daemon's -retain flags.
type retentionFlags struct {
	retain, interval time.Duration
}

func (r *retentionFlags) add(fs *flag.FlagSet) {
	fs.DurationVar(&r.retain, "retain", 0, "keep this much history (e.g. 8760h for a year): older events, coverage and sources are deleted while following; 0 (the default) keeps everything")
	fs.DurationVar(&r.interval, "trim-interval", time.Minute, "how often -retain trims the journal")
}

// check validates the flags.
func (r *retentionFlags) check(journalPath string) error {
	switch {
	case r.retain < 0:
		return usageError{fmt.Errorf("-retain %s is negative: give how much history to keep, e.g. -retain 8760h, or 0 to keep everything", r.retain)}
	case r.retain > 0 && journalPath == "":
		return usageError{errors.New("-retain needs the journal: it trims the journal's history; drop -retain or give -journal")}
	case r.interval < 100*time.Millisecond:
		return usageError{fmt.Errorf("-trim-interval %s is too short: give at least 100ms (the default is 1m)", r.interval)}
	}
	return nil
}

// retainer builds the Retention service, holding back what the publisher
// (nil when off) has not published; nil when -retain is off.
func (f *follower) retainer(r retentionFlags, log *slog.Logger) *journal.Retainer {
	if r.retain <= 0 {
		return nil
	}
	ret := &journal.Retainer{Journal: f.Journal, Retain: r.retain, Interval: r.interval, Logger: log}
	if f.publisher != nil {
		ret.KeepFrom = f.publisher.KeepFrom
	}
	return ret
}

// retentionStats adapts the journal's reach for /metrics.
func (f *follower) retentionStats() func() (metrics.RetentionStats, error) {
	return func() (metrics.RetentionStats, error) {
		r, err := f.Journal.Retention()
		s := metrics.RetentionStats{Oldest: r.Oldest, Cutoff: r.Cutoff, Trimmed: r.Trimmed}
		if f.retain != nil {
			s.Retain = f.retain.Retain
		}
		return s, err
	}
}
