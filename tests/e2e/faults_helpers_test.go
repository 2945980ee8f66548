package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/testenv"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and unmounts
// it when t ends. A journal on it meets a full disk for real. The test is
// skipped, with the reason, only when mounting is not permitted here, and
// never under CI=true.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small-disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := "size=" + strconv.FormatInt(size, 10) + ",mode=0700"
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			testenv.Missing(t, "a size-limited tmpfs cannot be mounted here (%v): the full-disk fault needs CAP_SYS_ADMIN (run the tests as root)", err)
		}
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fillDisk writes zeros to path until the filesystem is full and returns
// how many bytes it took.
func fillDisk(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var n int64
	for {
		w, err := f.Write(chunk)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("fill %s: %v", path, err)
		}
	}
}

// health reads /healthz; the zero value and false when it does not answer.
func (d *daemon) health() (bridgetest.Health, int, bool) {
	h, code, err := d.proc.Health(context.Background())
	if err != nil && code != 0 {
		d.t.Fatal(err)
	}
	return h, code, err == nil
}

// waitFor polls cond until it holds, failing t after limit. The limit is a
// bound against a hang, not a performance threshold.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
