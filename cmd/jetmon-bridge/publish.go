package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/nats"
)

// natsFlags are the connection flags of the NATS stream, shared by the
// daemon (-publish ...) and 'journal restore' (-from ...).
type natsFlags struct {
	url, subject, stream, creds string
	tlsCA, tlsCert, tlsKey      string
}

// add registers the flags on fs; urlFlag and prefix name them ("publish",
// "publish-") for the daemon, ("from", "") for restore.
func (n *natsFlags) add(fs *flag.FlagSet, urlFlag, urlUsage, prefix string) {
	fs.StringVar(&n.url, urlFlag, "", urlUsage)
	fs.StringVar(&n.subject, prefix+"subject", nats.DefaultSubject, "NATS subject prefix: blog B's transitions go to PREFIX.B")
	fs.StringVar(&n.stream, prefix+"stream", nats.DefaultStream, "JetStream stream name")
	fs.StringVar(&n.creds, prefix+"creds", "", "NATS credentials file (JWT and NKey seed)")
	fs.StringVar(&n.tlsCA, prefix+"tls-ca", "", "PEM file of the CA that signs the NATS server's certificate")
	fs.StringVar(&n.tlsCert, prefix+"tls-cert", "", "PEM client certificate for NATS (with -"+prefix+"tls-key)")
	fs.StringVar(&n.tlsKey, prefix+"tls-key", "", "PEM key of the NATS client certificate")
}

func (n *natsFlags) config(log *slog.Logger) nats.Config {
	return nats.Config{
		URL: n.url, Subject: n.subject, Stream: n.stream, CredsFile: n.creds,
		TLSCA: n.tlsCA, TLSCert: n.tlsCert, TLSKey: n.tlsKey, Logger: log,
	}
}

// publishFlags are the daemon's -publish flags.
type publishFlags struct {
	natsFlags
	dedupWindow time.Duration
	replicas    int
	acceptGap   string
}

func (p *publishFlags) add(fs *flag.FlagSet) {
	p.natsFlags.add(fs, "publish", "NATS URL (nats://host:4222) to publish every journal event to a JetStream stream; empty (the default) publishes nothing", "publish-")
	fs.DurationVar(&p.dedupWindow, "publish-dedup-window", nats.DefaultDedupWindow, "duplicate window of a stream the bridge creates: size it to the longest lag allowed between two bridges sharing the stream")
	fs.IntVar(&p.replicas, "publish-replicas", 1, "replicas of a stream the bridge creates (3 on a NATS cluster)")
	fs.StringVar(&p.acceptGap, "publish-accept-gap", "", "GTID: when the stream ends with this transaction and the journal never read it (a coverage gap), publish the journal after it anyway; what only the bridge that published it held stays missing from the stream")
}

// check validates the flags, without connecting.
func (p *publishFlags) check(journalPath string) error {
	if p.url == "" {
		return nil
	}
	if journalPath == "" {
		return usageError{errors.New("-publish needs the journal: it publishes the journal's events; drop -publish or give -journal")}
	}
	if err := p.config(nil).Check(); err != nil {
		return usageError{fmt.Errorf("-publish: %v", err)}
	}
	return nil
}

func (p *publishFlags) config(log *slog.Logger) nats.Config {
	c := p.natsFlags.config(log)
	c.DedupWindow, c.Replicas, c.AcceptGapAfter = p.dedupWindow, p.replicas, p.acceptGap
	return c
}

// publisherStats adapts the publisher's status for /metrics.
func publisherStats(p *nats.Publisher) func() metrics.PublisherStats {
	return func() metrics.PublisherStats {
		s := p.Status()
		return metrics.PublisherStats{Published: s.Published, Duplicates: s.Duplicates, Pending: s.Pending, Overtaken: s.Overtaken,
			Held: s.State == nats.StateHeld, Errors: s.Errors, LastErrorAt: s.ErrorAt}
	}
}
