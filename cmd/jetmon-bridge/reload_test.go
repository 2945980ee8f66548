package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// replay re-reads its -token-file on SIGHUP as the daemon does
// (tests/e2e/TestSIGHUPRotatesTheToken holds the daemon).
func TestReplayReloadsTheTokenOnSIGHUP(t *testing.T) {
	path, _ := toolJournal(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd, _, stderr := command(t, nil, "replay", "-journal", path, "-addr", addr, "-token-file", tokenFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() { cmd.Process.Kill(); <-done }()
	code := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/time", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			select {
			case <-done:
				t.Fatalf("replay exited waiting for %s:\n%s", what, stderr)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s:\n%s", what, stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("replay to serve", func() bool { return code("first-token") == http.StatusOK })
	if err := os.WriteFile(tokenFile, []byte("second-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	wait("the token to be re-read", func() bool { return strings.Contains(stderr.String(), "SIGHUP: token re-read") })
	if c := code("first-token"); c != http.StatusUnauthorized {
		t.Errorf("the old token after SIGHUP: %d, want 401", c)
	}
	if c := code("second-token"); c != http.StatusOK {
		t.Errorf("the new token after SIGHUP: %d, want 200", c)
	}
}
