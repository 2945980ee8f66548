package main

import (
	"fmt"
	"os"

	"github.com/automattic/jetmon-bridge/journal"
)

// runJournalUpgrade is "jetmon-bridge journal upgrade".
func runJournalUpgrade(args []string) error {
	path, out, err := copyFlags("upgrade", "the upgraded copy", "jetmon-bridge.journal.v2", args)
	if err != nil {
		return err
	}
	events, err := journal.Upgrade(path, out)
	if err != nil {
		return err
	}
	before, _ := os.Stat(path)
	after, _ := os.Stat(out)
	fmt.Printf("upgraded %s (format 1, %s) into %s (format %d, %s, %s events, verified)\n",
		path, humanBytes(before.Size()), out, journal.FormatVersion, humanBytes(after.Size()), groupDigits(events))
	return nil
}
