package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/server"
)

// journalCommands are the "jetmon-bridge journal" subcommands. Each works
// on a journal file alone, without any database, and opens it read-only
// (compact, upgrade and restore write only a new output file), but trim,
// which deletes in place from a file no daemon holds; reconcile and resynced
// ask a running daemon instead.
var journalCommands = []struct {
	name, summary string
	run           func(args []string) error
}{
	{"stats", "summarize a journal: events, blogs, size, checkpoint, coverage spans and gaps", runJournalStats},
	{"export", "stream events as JSON lines or CSV, in /events order", runJournalExport},
	{"verify", "check a journal file for damage; exit 0 only when it is sound", runJournalVerify},
	{"compact", "write a compacted copy of a journal", runJournalCompact},
	{"timeline", "draw blogs' status over time as an SVG", runJournalTimeline},
	{"upgrade", "write a copy of a format 1 journal (from an earlier jetmon-bridge) in this build's format", runJournalUpgrade},
	{"restore", "rebuild a journal from the NATS JetStream stream a bridge published it to", runJournalRestore},
	{"reconcile", "ask a running daemon to compare its journal with the table now; exit 0 only when they agree", journalReconcile.run},
	{"resynced", "tell a running daemon the replica's table was re-synchronized, lifting its hold on coverage; exit 0 only when released", journalResynced.run},
	{"trim", "delete a journal's history from before a time, as -retain does while following", runJournalTrim},
}

// runJournal dispatches "jetmon-bridge journal SUBCOMMAND".
func runJournal(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		journalUsage()
		if len(args) == 0 {
			return usageError{errors.New("journal needs a subcommand: stats, export, verify, compact, timeline, upgrade, restore, reconcile, resynced or trim")}
		}
		return errHelp
	}
	for _, c := range journalCommands {
		if c.name == args[0] {
			return c.run(args[1:])
		}
	}
	return usageError{fmt.Errorf("unknown journal subcommand %q: use stats, export, verify, compact, timeline, upgrade, restore, reconcile, resynced or trim (jetmon-bridge journal -h lists them)", args[0])}
}

func journalUsage() {
	fmt.Fprintf(os.Stderr, "usage: jetmon-bridge journal SUBCOMMAND -journal PATH [flags]\n\nsubcommands (each takes -h):\n")
	for _, c := range journalCommands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nA journal held by a running daemon cannot be opened: stop the daemon, or work on\na copy from its GET /journal/snapshot.\n")
}

// journalFlag adds -journal to fs, with the daemon's default.
func journalFlag(fs *flag.FlagSet) *string {
	return fs.String("journal", "jetmon-bridge.journal", "the journal file")
}

// openJournal opens a journal read-only for a tool, after checking that
// its pages are safe to read. A file a daemon holds fails within a second
// with a sentence saying so.
func openJournal(path string) (*journal.Journal, error) {
	if path == "" {
		return nil, usageError{errors.New("-journal is empty: give the journal file, e.g. -journal /var/lib/jetmon-bridge/jetmon-bridge.journal")}
	}
	j, err := journal.OpenForTools(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("journal %s does not exist: give the journal file with -journal PATH", path)
	}
	return j, err
}

// timeFlag parses an optional RFC 3339 flag value; empty is the zero time.
func timeFlag(name, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	t, err := server.ParseTime(value)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("-%s %q is not an RFC 3339 time such as 2026-04-22T14:05:33Z", name, value)}
	}
	return t, nil
}

// isTerminal reports whether f is a terminal (for progress lines).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// humanBytes formats a size for people: 12.3 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// groupDigits writes 1234567 as 1,234,567.
func groupDigits(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
