// Command jetmon-bridge serves Jetmon 1's status history to uptime-bench.
//
// With no subcommand it runs the daemon (see serve.go). The subcommands
// "journal" and "replay" work on a journal file without any database.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	args := os.Args[1:]
	var err error
	switch {
	case len(args) > 0 && args[0] == "serve":
		err = runServe(args[1:])
	case len(args) > 0 && args[0] == "journal":
		err = runJournal(args[1:])
	case len(args) > 0 && args[0] == "replay":
		err = runReplay(args[1:])
	default:
		err = runServe(args)
	}
	if errors.Is(err, errHelp) {
		return // the usage was printed, as asked
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "jetmon-bridge: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// errHelp ends a command after -h printed its usage: not a failure.
var errHelp = errors.New("help requested")

// usageError marks errors in the command line: exit status 2, like flag.
type usageError struct{ error }

func exitCode(err error) int {
	if _, ok := err.(usageError); ok {
		return 2
	}
	return 1
}
