package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
)

// runJournalStats is "jetmon-bridge journal stats".
func runJournalStats(args []string) error {
	fs := newFlagSet("journal stats", "jetmon-bridge journal stats -journal PATH [-json]")
	path := journalFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	j, err := openJournal(*path)
	if err != nil {
		return err
	}
	defer j.Close()
	st, err := j.Stats()
	if err != nil {
		return fmt.Errorf("read %s: %w", *path, err)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printStats(os.Stdout, st)
}

// printStats writes st for people.
func printStats(out io.Writer, st journal.Stats) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "journal\t%s\n", st.Path)
	size := fmt.Sprintf("%s (%s bytes, pages in use %s)", humanBytes(st.FileSize), groupDigits(uint64(st.FileSize)), humanBytes(st.UsedBytes))
	if st.Events > 0 {
		size += fmt.Sprintf(", %.1f bytes per event", st.BytesPerEvent)
	}
	fmt.Fprintf(w, "file size\t%s\n", size)
	events := groupDigits(st.Events)
	if st.Events > 0 {
		events += fmt.Sprintf(" (ids %d..%d)", st.FirstID, st.Seq)
	}
	if st.Trimmed > 0 {
		events += fmt.Sprintf(", %s trimmed by retention", groupDigits(st.Trimmed))
	}
	if st.Seq != st.Events+st.Trimmed {
		events += fmt.Sprintf(" -- but the sequence is %d: run 'jetmon-bridge journal verify'", st.Seq)
	}
	fmt.Fprintf(w, "events\t%s\n", events)
	if st.RetainedFrom != nil {
		retained := st.RetainedFrom.Format(time.RFC3339) + " (the journal answers for nothing before it)"
		if st.BeforeCutoff > 0 {
			retained += fmt.Sprintf("; %s older events await the next trim (held for the publisher, or committed late)", groupDigits(st.BeforeCutoff))
		}
		fmt.Fprintf(w, "retained from\t%s\n", retained)
	}
	fmt.Fprintf(w, "blogs\t%s with events\n", groupDigits(st.Blogs))
	fmt.Fprintf(w, "monitors\t%s rows kept, %s active\n", groupDigits(st.Monitors), groupDigits(st.ActiveMonitors))
	if st.FirstEvent != nil {
		fmt.Fprintf(w, "first event\t%s\n", st.FirstEvent.Format(time.RFC3339))
		fmt.Fprintf(w, "last event\t%s\n", st.LastEvent.Format(time.RFC3339))
	}
	if st.Checkpoint != nil {
		fmt.Fprintf(w, "checkpoint\t%s %s\n", st.Checkpoint.Flavor, st.Checkpoint)
	} else {
		fmt.Fprintf(w, "checkpoint\tnone (the journal never followed a binlog)\n")
	}
	if st.ServerID != 0 {
		fmt.Fprintf(w, "server id\t%d\n", st.ServerID)
	}
	fmt.Fprintf(w, "coverage\t%d span(s), %d gap(s)\n", len(st.Spans), len(st.Gaps))
	for i, s := range st.Spans {
		if i > 0 {
			g := st.Gaps[i-1]
			reason := g.Reason
			if reason == "" {
				reason = "no reason recorded"
			}
			if g.Start.Equal(g.End) {
				// A switch of servers that missed nothing (resumed by GTID).
				fmt.Fprintf(w, "  switch	%s		%s\n", stamp(g.Start), reason)
			} else {
				fmt.Fprintf(w, "  gap	%s .. %s	%s	%s\n", stamp(g.Start), stamp(g.End), g.End.Sub(g.Start).Round(time.Millisecond), reason)
			}
		}
		server := s.Server
		if server == "" {
			server = "not recorded (written before the bridge recorded servers)"
		}
		fmt.Fprintf(w, "  span	%s .. %s	%s	server %s", stamp(s.Start), stamp(s.End), s.End.Sub(s.Start).Round(time.Millisecond), server)
		if s.Open {
			fmt.Fprint(w, "\topen: covered up to here when last written")
		}
		fmt.Fprintln(w)
	}
	if st.Held != nil {
		fmt.Fprintf(w, "  held since %s\t%s (lift it with 'jetmon-bridge journal resynced' once the replica's table is re-synchronized)\n", st.Held.Since.Format(time.RFC3339), st.Held.Reason)
	}
	if st.Stopped != "" {
		fmt.Fprintf(w, "  stopped\t%s\n", st.Stopped)
	}
	return w.Flush()
}

// stamp formats a coverage boundary: spans are kept to the nanosecond.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
