// Package testenv decides what a test does when something it needs from the
// machine (a database server, a tool, a permission) is missing.
//
// On a developer's machine the test is skipped, saying what to install. In
// CI (CI=true) it fails: CI installs everything the tests need, so a missing
// part there is a defect of the CI setup, and a skip would hide it.
package testenv

import (
	"fmt"
	"net"
	"os"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing ends t because something it needs is missing: a skip on a
// developer's machine, a failure under CI=true. The message should name
// what is missing and how to install it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf(format+" (CI=true forbids skipping)", args...)
	}
	t.Skipf(format, args...)
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server a test starts on its own port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
