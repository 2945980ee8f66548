package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte("  s3cret\n"), 0o600)
	c, err := parseServeFlags([]string{"-dsn", "u:p@tcp(127.0.0.1:1)/db", "-token-file", file})
	if err != nil || c.token != "s3cret" {
		t.Fatalf("token %q, err %v", c.token, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, args := range [][]string{
		{"-token-file", empty},
		{"-token-file", filepath.Join(t.TempDir(), "missing")},
		{"-token-file", file, "-token", "x"},
	} {
		_, err := parseServeFlags(append([]string{"-dsn", "u:p@tcp(127.0.0.1:1)/db"}, args...))
		if err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestTokenFromEnvironment(t *testing.T) {
	t.Setenv("JETMON_TOKEN", "from-env")
	c, err := parseServeFlags([]string{"-dsn", "u:p@tcp(127.0.0.1:1)/db"})
	if err != nil || c.token != "from-env" {
		t.Fatalf("token %q, err %v", c.token, err)
	}
}

func TestWriteOnNetworkNeedsToken(t *testing.T) {
	base := []string{"-dsn", "u:p@tcp(127.0.0.1:1)/db", "-write", "-write-dsn", "u:p@tcp(127.0.0.1:1)/db"}
	_, err := parseServeFlags(append(base, "-addr", "0.0.0.0:7400"))
	if err == nil || !strings.Contains(err.Error(), "-insecure") || !strings.Contains(err.Error(), "-token-file") {
		t.Fatalf("non-loopback write without token: %v", err)
	}
	for _, extra := range [][]string{
		{"-addr", "0.0.0.0:7400", "-insecure"},
		{"-addr", "0.0.0.0:7400", "-token", "t"},
		{"-addr", "127.0.0.1:7400"},
		{"-addr", "[::1]:7400"},
		{"-addr", "localhost:7400"},
	} {
		if _, err := parseServeFlags(append(base, extra...)); err != nil {
			t.Errorf("%v refused: %v", extra, err)
		}
	}
}
