package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/server"
)

// runJournalReconcile is "jetmon-bridge journal reconcile": it asks a
// running daemon to compare its journal with the table now (POST
// /journal/reconcile) and prints the outcome; exit 0 only when they
// agree. Unlike the other journal tools it works through the daemon, not
// on a file: the comparison needs the table read at a binlog position and
// the journal committed up to exactly that position, which only the live
// follower can bring about. A copy of the journal compared with the table
// later would differ in every row changed since the copy.
func runJournalReconcile(args []string) error {
	fs := newFlagSet("journal reconcile", "jetmon-bridge journal reconcile [-addr HOST:PORT] [-token-file FILE] [-json]")
	addr := fs.String("addr", "127.0.0.1:7400", "the running daemon's listen address (its -addr; an unspecified host such as 0.0.0.0 means this machine)")
	token := fs.String("token", "", "the daemon's bearer token (prefer -token-file or JETMON_TOKEN: flags show in ps)")
	tokenFile := fs.String("token-file", "", "file holding the daemon's bearer token")
	asJSON := fs.Bool("json", false, "print the daemon's report as JSON instead of text")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up waiting for the run after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	tok, err := resolveToken(*token, *tokenFile)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageError{fmt.Errorf("-addr %q is not host:port: %v", *addr, err)}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + server.ReconcilePath
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask the daemon at %s to reconcile: %w (is jetmon-bridge serve running there with -journal? give its address with -addr)", *addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the daemon's answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("the daemon at %s refused the request (401): give its token with -token-file or JETMON_TOKEN", *addr)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return fmt.Errorf("the daemon at %s has no %s (%s): it runs without a journal (-journal \"\"), or is a replay or an older build", *addr, server.ReconcilePath, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("the daemon at %s answered %s: %s", *addr, resp.Status, strings.TrimSpace(string(body)))
	}
	var rep binlog.ReconcileReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return fmt.Errorf("the daemon's answer is not a reconcile report: %w", err)
	}
	if *asJSON {
		os.Stdout.Write(body)
	} else {
		printReconcileReport(rep)
	}
	switch rep.Outcome {
	case binlog.ReconcileAgreed:
		return nil
	case binlog.ReconcileDiverged:
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
	if rep.TakenBackFrom != nil {
		fmt.Printf("  coverage after %s taken back; a fresh span starts from a new snapshot\n", rep.TakenBackFrom.Format(time.RFC3339))
	}
}
