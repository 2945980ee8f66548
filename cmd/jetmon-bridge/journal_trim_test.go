package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
)

// TestJournalTrimCommand trims a journal offline: the events before the
// cutoff are gone from every tool's view, coverage starts at the cutoff,
// stats say so, and the file stays sound.
func TestJournalTrimCommand(t *testing.T) {
	t.Parallel()
	path, all := toolJournal(t)
	cutoff := tj0.Add(300 * time.Second)
	gone := 0
	for _, e := range all {
		if e.CreatedAt.Before(cutoff) {
			gone++
		}
	}
	code, stdout, stderr := run(t, nil, "journal", "trim", "-journal", path, "-before", cutoff.Format(time.RFC3339))
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{strconv.Itoa(gone) + " events before 2026-04-22T14:05:00Z deleted", "coverage now starts at 2026-04-22T14:05:00Z", "journal compact"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("trim output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = run(t, nil, "journal", "stats", "-journal", path)
	words := strings.Join(strings.Fields(stdout), " ") // the columns' widths aside
	for _, want := range []string{"events " + strconv.Itoa(len(all)-gone) + " (ids " + strconv.Itoa(gone+1) + ".." + strconv.Itoa(len(all)) + "), " + strconv.Itoa(gone) + " trimmed by retention",
		"retained from 2026-04-22T14:05:00Z", "first event 2026-04-22T14:05:00Z", "span 2026-04-22T14:05:00Z .. 2026-04-22T14:10:00Z"} {
		if code != 0 || !strings.Contains(words, want) {
			t.Errorf("stats after the trim (exit %d) lack %q:\n%s", code, want, stdout)
		}
	}
	if code, stdout, _ := run(t, nil, "journal", "verify", "-journal", path); code != 0 {
		t.Errorf("verify after the trim: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, nil, "journal", "export", "-journal", path)
	if lines := strings.Count(stdout, "\n"); code != 0 || lines != len(all)-gone {
		t.Errorf("export after the trim: exit %d, %d events, want %d", code, lines, len(all)-gone)
	}
	// Again to the same time: nothing left to do.
	code, stdout, _ = run(t, nil, "journal", "trim", "-journal", path, "-before", cutoff.Format(time.RFC3339))
	if code != 0 || !strings.Contains(stdout, ": 0 events before") {
		t.Errorf("a second trim to the same time: exit %d\n%s", code, stdout)
	}
}

func TestJournalTrimRefusesBadInput(t *testing.T) {
	t.Parallel()
	path, _ := toolJournal(t)
	missing := filepath.Join(t.TempDir(), "missing.journal")
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		code int
		args []string
		want []string
	}{
		{2, []string{"journal", "trim", "-journal", path}, []string{"-before is required", "RFC 3339"}},
		{2, []string{"journal", "trim", "-journal", path, "-before", "last year"}, []string{`-before "last year"`, "RFC 3339"}},
		{2, []string{"journal", "trim", "-journal", path, "-before", "2026-04-22"}, []string{`-before "2026-04-22"`, "RFC 3339"}},
		{2, []string{"journal", "trim", "-journal", path, "-before", future}, []string{"-before " + future + " is in the future", "a time in the past"}},
		{2, []string{"journal", "trim", "-journal", "", "-before", "2026-01-01T00:00:00Z"}, []string{"-journal is empty"}},
		{1, []string{"journal", "trim", "-journal", missing, "-before", "2026-01-01T00:00:00Z"}, []string{"does not exist", "-journal PATH"}},
	} {
		code, _, stderr := run(t, nil, c.args...)
		refusal(t, c.code, stderr, code, c.want...)
	}
	// A journal a daemon holds: the usual sentence, and nothing deleted.
	held, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	events := held.LastID()
	code, _, stderr := run(t, nil, "journal", "trim", "-journal", path, "-before", "2026-04-22T14:05:00Z")
	refusal(t, 1, stderr, code, "is in use", "stop that process", "/journal/snapshot")
	if st, err := held.Stats(); err != nil || st.Events != events || st.Trimmed != 0 {
		t.Errorf("a refused trim changed the journal: %+v %v", st, err)
	}
}

func TestRetainFlagsRefuseBadInput(t *testing.T) {
	t.Parallel()
	dsn := closedDSN(t)
	for _, c := range []struct {
		env   []string
		args  []string
		want  []string
		usage bool
	}{
		{nil, []string{"-dsn", dsn, "-retain", "-1h"}, []string{"-retain -1h0m0s is negative", "8760h"}, false},
		{nil, []string{"-dsn", dsn, "-retain", "a year"}, []string{"-retain"}, true},
		{[]string{"JETMON_DSN=" + dsn, "JETMON_RETAIN=forever"}, nil, []string{"JETMON_RETAIN"}, false},
		{nil, []string{"-dsn", dsn, "-journal", "", "-retain", "24h"}, []string{"-retain needs the journal"}, false},
		{nil, []string{"-dsn", dsn, "-retain", "24h", "-trim-interval", "1ms"}, []string{"-trim-interval 1ms is too short"}, false},
	} {
		code, _, stderr := run(t, c.env, c.args...)
		refusalAfterUsage(t, 2, stderr, code, c.usage, c.want...)
	}
}

// TestToolsCountWhatATrimmedJournalHolds: compact and export count the
// events a trimmed journal holds, not its last id.
func TestToolsCountWhatATrimmedJournalHolds(t *testing.T) {
	t.Parallel()
	path, all := toolJournal(t)
	if code, _, stderr := run(t, nil, "journal", "trim", "-journal", path, "-before", tj0.Add(300*time.Second).Format(time.RFC3339)); code != 0 {
		t.Fatalf("trim: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := run(t, nil, "journal", "compact", "-journal", path, "-o", path+".compact")
	if want := ", " + strconv.Itoa(len(all)-30) + " events)"; code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("compact of a trimmed journal: exit %d, %q (want %q) %s", code, stdout, want, stderr)
	}
	if code, stdout, _ := run(t, nil, "journal", "verify", "-journal", path+".compact"); code != 0 {
		t.Errorf("the compacted trimmed journal: exit %d\n%s", code, stdout)
	}
}
