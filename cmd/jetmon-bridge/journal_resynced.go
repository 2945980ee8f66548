package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/server"
)

// journalResynced is "jetmon-bridge journal resynced": the operator
// tells a running daemon that the replica's jetpack_monitor_sites was
// re-synchronized with the primary's (POST /journal/resynced), which lifts
// the hold on coverage a replication filter left (docs/guarantees.md,
// "Coverage on a replica"); it prints the outcome and exits 0 only when
// the hold was released. Like reconcile it works through the daemon: the
// hold lives in the journal the daemon holds, and the fresh span that
// follows is the live follower's to start. A restart of the daemon is no
// re-synchronization, so nothing else lifts the hold.
var journalResynced = daemonAction[binlog.ResyncReport]{
	name: "journal resynced", path: server.ResyncedPath, what: "lift its hold on coverage",
	decode: func(body []byte) (rep binlog.ResyncReport, err error) {
		if err = json.Unmarshal(body, &rep); err != nil || rep.Outcome == "" {
			return rep, fmt.Errorf("the daemon's answer is not a resynced report: %s", body)
		}
		return rep, nil
	},
	print:   printResyncReport,
	verdict: resyncVerdict,
}

// resyncVerdict is the exit status: nil only when the hold was released.
func resyncVerdict(rep binlog.ResyncReport) error {
	switch rep.Outcome {
	case binlog.ResyncReleased:
		return nil
	case binlog.ResyncNotHeld:
		return errors.New("coverage was not held: nothing was released")
	}
	return errors.New("the hold on coverage stays: " + rep.Message)
}

// printResyncReport writes a report for people.
func printResyncReport(rep binlog.ResyncReport) {
	fmt.Printf("resynced: %s: %s\n", rep.Outcome, rep.Message)
	if h := rep.Hold; h != nil {
		fmt.Printf("  held since %s: %s\n", h.Since.Format(time.RFC3339), h.Reason)
	}
	if c := rep.Check; c != nil {
		fmt.Printf("  compared with the primary at %s: %s", c.At.Format(time.RFC3339), c.Outcome)
		if c.Reason != "" {
			fmt.Printf(" (%s)", c.Reason)
		}
		fmt.Printf(", %s rows compared, %s differ\n", groupDigits(uint64(c.Rows)), groupDigits(uint64(c.Differences)))
		for _, d := range c.Examples {
			fmt.Printf("  differs: %s\n", d)
		}
	}
}
