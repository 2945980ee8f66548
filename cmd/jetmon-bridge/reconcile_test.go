package main

import (
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
)

// TestReconcileFlag: -reconcile is on by default, JETMON_RECONCILE sets it,
// 0 turns it off, and a negative or tiny interval is refused saying so.
func TestReconcileFlag(t *testing.T) {
	base := []string{"-dsn", "u:p@tcp(127.0.0.1:1)/db"}
	c, err := parseServeFlags(base)
	if err != nil || c.reconcile != binlog.DefaultReconcileInterval {
		t.Fatalf("default: %v %v", c, err)
	}
	for _, v := range []string{"0", "0s"} {
		if c, err := parseServeFlags(append(base, "-reconcile", v)); err != nil || c.reconcile != 0 {
			t.Fatalf("-reconcile %s: %v %v", v, c, err)
		}
	}
	t.Setenv("JETMON_RECONCILE", "90s")
	if c, err := parseServeFlags(base); err != nil || c.reconcile != 90*time.Second {
		t.Fatalf("JETMON_RECONCILE=90s: %v %v", c, err)
	}
	for _, v := range []string{"-1s", "1ms"} {
		_, err := parseServeFlags(append(base, "-reconcile", v))
		if err == nil || !strings.Contains(err.Error(), "-reconcile must be 0 (off) or at least 100ms") {
			t.Fatalf("-reconcile %s: %v", v, err)
		}
	}
}
