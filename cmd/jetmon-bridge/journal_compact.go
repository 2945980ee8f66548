package main

import (
	"fmt"

	"github.com/automattic/jetmon-bridge/journal"
)

// runJournalCompact is "jetmon-bridge journal compact".
func runJournalCompact(args []string) error {
	path, out, err := copyFlags("compact", "the compacted copy", "jetmon-bridge.journal.compact", args)
	if err != nil {
		return err
	}
	before, after, err := journal.Compact(path, out)
	if err != nil {
		return err
	}
	// The copy must open as a journal before anyone swaps it in.
	j, err := journal.Open(out, journal.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("the compacted copy %s does not open: %w", out, err)
	}
	events := j.LastID()
	if r, err := j.Retention(); err == nil {
		events -= min(events, r.Trimmed) // ids retention deleted are no events
	}
	j.Close()
	fmt.Printf("compacted %s (%s) into %s (%s, %s events)\n", path, humanBytes(before), out, humanBytes(after), groupDigits(events))
	return nil
}

// copyFlags parses the flags of a subcommand that writes a new copy of a
// journal: -journal, the source, and -o, the copy (what it is, and an
// example name).
func copyFlags(name, what, example string, args []string) (path, out string, err error) {
	fs := newFlagSet("journal "+name, "jetmon-bridge journal "+name+" -journal PATH -o NEWPATH")
	src := journalFlag(fs)
	dst := fs.String("o", "", what+" to write; must not exist")
	if err := parseFlags(fs, args); err != nil {
		return "", "", err
	}
	switch {
	case *src == "":
		_, err := openJournal("")
		return "", "", err
	case *dst == "":
		return "", "", usageError{fmt.Errorf("-o is required: name %s to write, e.g. -o %s", what, example)}
	}
	return *src, *dst, nil
}
