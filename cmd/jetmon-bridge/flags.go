package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/automattic/jetmon-bridge/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints its usage only when asked (-h), not before every error.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	usages[fs] = usage
	return fs
}

// usages holds each flag set's one-line synopsis for printUsage.
var usages = map[*flag.FlagSet]string{}

func printUsage(fs *flag.FlagSet) {
	fmt.Fprintf(os.Stderr, "usage: %s\n\nflags (each also settable as JETMON_<NAME>; the flag wins):\n", usages[fs])
	fs.SetOutput(os.Stderr)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseFlags parses args, then fills every flag not given on the command
// line from its JETMON_<NAME> environment variable (dashes become
// underscores: -read-timeout reads JETMON_READ_TIMEOUT).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs)
			return errHelp
		}
		return usageError{fmt.Errorf("%v (run with -h for the flags)", err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (run with -h for the flags)", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := EnvName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = usageError{fmt.Errorf("environment variable %s: %v", env, e)}
			}
		}
	})
	return err
}

// EnvName is the environment variable that backs a flag.
func EnvName(flagName string) string {
	return "JETMON_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// versionString is the release and the VCS revision it was built from.
func versionString() string {
	rev, dirty := "unknown", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	return fmt.Sprintf("jetmon-bridge %s (revision %s%s)", version, rev, dirty)
}

// resolveToken returns the bearer token given by -token (or JETMON_TOKEN)
// or read from -token-file, refusing both at once and an empty file.
func resolveToken(token, file string) (string, error) {
	if file == "" {
		return token, nil
	}
	if token != "" {
		return "", usageError{errors.New("give the token once: -token (or JETMON_TOKEN) or -token-file, not both")}
	}
	token, err := readTokenFile(file)
	if err != nil {
		return "", usageError{err}
	}
	return token, nil
}

// readTokenFile reads the token from file, surrounding whitespace ignored,
// refusing an empty one. Errors never quote the file's content.
func readTokenFile(file string) (string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("-token-file: %v", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", fmt.Errorf("-token-file %s is empty", file)
	}
	return token, nil
}

// allowOriginUsage is the help text of -allow-origin, shared by serve and
// replay.
const allowOriginUsage = "browser origins (scheme://host[:port], comma separated; null for file:// pages, * for any) " +
	"that may call the bridge without a token besides its own origin; with a token any origin may"

// resolveAllowedOrigins parses -allow-origin into the form server.Access
// takes.
func resolveAllowedOrigins(list string) ([]string, error) {
	origins, err := server.ParseAllowedOrigins(list)
	if err != nil {
		return nil, usageError{err}
	}
	return origins, nil
}
