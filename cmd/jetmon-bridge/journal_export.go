package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
)

// runJournalExport is "jetmon-bridge journal export".
func runJournalExport(args []string) error {
	fs := newFlagSet("journal export", "jetmon-bridge journal export -journal PATH [-blog-id B] [-since S] [-until T] [-format jsonl|csv] > events")
	path := journalFlag(fs)
	blog := fs.Uint64("blog-id", 0, "export only this blog's events (0: every blog)")
	sinceFlag := fs.String("since", "", "export events with created_at >= this RFC 3339 time")
	untilFlag := fs.String("until", "", "export events with created_at < this RFC 3339 time")
	format := fs.String("format", "jsonl", "jsonl (one /events object per line) or csv")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	since, err := timeFlag("since", *sinceFlag)
	if err != nil {
		return err
	}
	until, err := timeFlag("until", *untilFlag)
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return usageError{errors.New("-since must be before -until")}
	}
	if *format != "jsonl" && *format != "csv" {
		return usageError{fmt.Errorf("-format %q is not one of jsonl or csv", *format)}
	}
	j, err := openJournal(*path)
	if err != nil {
		return err
	}
	defer j.Close()

	out := bufio.NewWriterSize(os.Stdout, 256<<10)
	if *format == "csv" {
		out.WriteString(journal.CSVHeader)
	}
	total := j.LastID()
	if r, err := j.Retention(); err == nil {
		total -= min(total, r.Trimmed) // ids retention deleted are no events
	}
	p := newProgress(total, *blog == 0 && since.IsZero() && until.IsZero())
	var line []byte
	err = j.Export(journal.ExportFilter{BlogID: *blog, Since: since, Until: until}, func(e bridge.Event) error {
		line = line[:0]
		if *format == "csv" {
			line = journal.AppendCSV(line, e)
		} else {
			line = append(e.AppendJSON(line), '\n')
		}
		p.tick()
		_, err := out.Write(line)
		return err
	})
	if err == nil {
		err = out.Flush()
	}
	p.done()
	if err != nil {
		return fmt.Errorf("export %s: %w", *path, err)
	}
	return nil
}

// progress prints a progress line on stderr, when it is a terminal, for
// exports that take more than a second.
type progress struct {
	on         bool
	total      uint64 // known for a whole-file export, else 0
	n          uint64
	start      time.Time
	next       time.Time
	printed    bool
	checkEvery uint64
}

func newProgress(total uint64, whole bool) *progress {
	now := time.Now()
	p := &progress{on: isTerminal(os.Stderr), start: now, next: now.Add(time.Second), checkEvery: 4096}
	if whole {
		p.total = total
	}
	return p
}

func (p *progress) tick() {
	p.n++
	if !p.on || p.n%p.checkEvery != 0 {
		return
	}
	if now := time.Now(); now.After(p.next) {
		p.next = now.Add(500 * time.Millisecond)
		p.print()
	}
}

func (p *progress) print() {
	rate := float64(p.n) / time.Since(p.start).Seconds()
	if p.total > 0 {
		fmt.Fprintf(os.Stderr, "\rexported %s of %s events (%.0f%%, %.0f/s)  ", groupDigits(p.n), groupDigits(p.total), 100*float64(p.n)/float64(p.total), rate)
	} else {
		fmt.Fprintf(os.Stderr, "\rexported %s events (%.0f/s)  ", groupDigits(p.n), rate)
	}
	p.printed = true
}

func (p *progress) done() {
	if p.printed {
		p.print()
		fmt.Fprintln(os.Stderr)
	}
}
