package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/server"
)

// journalReconcile is "jetmon-bridge journal reconcile": it asks a
// running daemon to compare its journal with the table now (POST
// /journal/reconcile) and prints the outcome; exit 0 only when they
// agree. Unlike the other journal tools it works through the daemon, not
// on a file: the comparison needs the table read at a binlog position and
// the journal committed up to exactly that position, which only the live
// follower can bring about. A copy of the journal compared with the table
// later would differ in every row changed since the copy.
var journalReconcile = daemonAction[binlog.ReconcileReport]{
	name: "journal reconcile", path: server.ReconcilePath, what: "reconcile",
	decode: func(body []byte) (rep binlog.ReconcileReport, err error) {
		if err = json.Unmarshal(body, &rep); err != nil {
			return rep, fmt.Errorf("the daemon's answer is not a reconcile report: %w", err)
		}
		return rep, nil
	},
	print:   printReconcileReport,
	verdict: reconcileVerdict,
}

// reconcileVerdict is the exit status: nil only when the journal agreed.
func reconcileVerdict(rep binlog.ReconcileReport) error {
	switch rep.Outcome {
	case binlog.ReconcileAgreed:
		return nil
	case binlog.ReconcileDiverged:
		if rep.Differences == 0 && rep.Primary != nil {
			return fmt.Errorf("the replica's table differs from the primary's in %d row(s): the daemon took coverage back and holds it until they are re-synchronized; see docs/operations.md, \"REPLICA DIVERGED\"", rep.Primary.Differences)
		}
		return fmt.Errorf("the journal diverged from the table in %d row(s): the daemon took coverage back and started a fresh span; see docs/operations.md, \"JOURNAL DIVERGED\"", rep.Differences)
	case binlog.ReconcileSkipped:
		return fmt.Errorf("no comparison was made (%s): run it again once the follower is caught up", rep.Reason)
	}
	return errors.New("the reconcile failed: " + rep.Reason)
}

// printReconcileReport writes a report for people.
func printReconcileReport(rep binlog.ReconcileReport) {
	fmt.Printf("reconcile at %s: %s (%.1fs)\n", rep.At.Format(time.RFC3339), rep.Outcome, rep.Seconds)
	if rep.Reason != "" {
		fmt.Printf("  reason: %s\n", rep.Reason)
	}
	if rep.Position != "" {
		fmt.Printf("  table read at binlog position %s\n", rep.Position)
	}
	if rep.Outcome == binlog.ReconcileAgreed || rep.Outcome == binlog.ReconcileDiverged {
		fmt.Printf("  %s rows compared, %s changed meanwhile (left for the next run), %s differ, %s differ in other columns only\n",
			groupDigits(uint64(rep.Rows)), groupDigits(uint64(rep.Skipped)), groupDigits(uint64(rep.Differences)), groupDigits(uint64(rep.OtherDifferences)))
	}
	for _, d := range rep.Examples {
		fmt.Printf("  differs: %s\n", d)
	}
	for _, d := range rep.OtherExamples {
		fmt.Printf("  differs (other columns): %s\n", d)
	}
	if c := rep.Primary; c != nil {
		fmt.Printf("  the replica's table against the primary's: %s", c.Outcome)
		if c.Reason != "" {
			fmt.Printf(" (%s)", c.Reason)
		}
		fmt.Printf(", %s rows compared, %s differ\n", groupDigits(uint64(c.Rows)), groupDigits(uint64(c.Differences)))
		for _, d := range c.Examples {
			fmt.Printf("  differs from the primary: %s\n", d)
		}
	}
	switch {
	case rep.TakenBackFrom != nil && rep.Differences == 0 && rep.Primary != nil:
		fmt.Printf("  coverage after %s taken back and held until the replica's table is re-synchronized\n", rep.TakenBackFrom.Format(time.RFC3339))
	case rep.TakenBackFrom != nil:
		fmt.Printf("  coverage after %s taken back; a fresh span starts from a new snapshot\n", rep.TakenBackFrom.Format(time.RFC3339))
	}
}
