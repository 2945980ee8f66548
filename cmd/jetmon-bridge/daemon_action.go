package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// daemonAction is a journal subcommand that asks the running daemon to act
// (reconcile, resynced) instead of opening a file: it POSTs to one of the
// daemon's /journal/ routes, prints the report the daemon answers (the
// body as it came with -json) and exits by the report's outcome. R is the
// report's type.
type daemonAction[R any] struct {
	name    string                       // the subcommand: "journal reconcile"
	path    string                       // the daemon's route for it
	what    string                       // the request in errors: "ask the daemon at ... to <what>"
	decode  func(body []byte) (R, error) // the report, or why the answer is none
	print   func(R)                      // the report for people
	verdict func(R) error                // nil (exit 0) only when the action did what was asked
}

// run is the subcommand, args its flags.
func (a daemonAction[R]) run(args []string) error {
	fs := newFlagSet(a.name, "jetmon-bridge "+a.name+" [-addr HOST:PORT] [-token-file FILE] [-json]")
	d := addDaemonFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	body, err := d.post(a.path, a.what)
	if err != nil {
		return err
	}
	rep, err := a.decode(body)
	if err != nil {
		return err
	}
	if *d.asJSON {
		os.Stdout.Write(body)
	} else {
		a.print(rep)
	}
	return a.verdict(rep)
}

// daemonClient is a daemonAction's way to the daemon: its address and
// token flags, -json, -timeout, and a POST to one of its /journal/ routes.
type daemonClient struct {
	addr, token, tokenFile *string
	asJSON                 *bool
	timeout                *time.Duration
}

// addDaemonFlags adds the flags to fs.
func addDaemonFlags(fs *flag.FlagSet) *daemonClient {
	return &daemonClient{
		addr:      fs.String("addr", "127.0.0.1:7400", "the running daemon's listen address (its -addr; an unspecified host such as 0.0.0.0 means this machine)"),
		token:     fs.String("token", "", "the daemon's bearer token (prefer -token-file or JETMON_TOKEN: flags show in ps)"),
		tokenFile: fs.String("token-file", "", "file holding the daemon's bearer token"),
		asJSON:    fs.Bool("json", false, "print the daemon's report as JSON instead of text"),
		timeout:   fs.Duration("timeout", 10*time.Minute, "give up waiting for the daemon's answer after this long"),
	}
}

// post sends POST path to the daemon and returns its 200 answer's body;
// what names the request in errors ("reconcile"). Every failure names the
// fix.
func (d *daemonClient) post(path, what string) ([]byte, error) {
	tok, err := resolveToken(*d.token, *d.tokenFile)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(*d.addr)
	if err != nil {
		return nil, usageError{fmt.Errorf("-addr %q is not host:port: %v", *d.addr, err)}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + path
	ctx, cancel := context.WithTimeout(context.Background(), *d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the daemon at %s to %s: %w (is jetmon-bridge serve running there with -journal? give its address with -addr)", *d.addr, what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the daemon's answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("the daemon at %s refused the request (401): give its token with -token-file or JETMON_TOKEN", *d.addr)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return nil, fmt.Errorf("the daemon at %s has no %s (%s): it runs without a journal (-journal \"\"), or is a replay or an older build", *d.addr, path, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("the daemon at %s answered %s: %s", *d.addr, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
