package journal

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// openRaw opens the bbolt file at path read-only without interpreting it,
// for the tools that must work on a journal too damaged for Open (verify)
// or that copy it page by page (compact). A file held by a running daemon
// fails with ErrLocked after timeout, as Open does.
func openRaw(path string, timeout time.Duration) (*bolt.DB, error) {
	if timeout == 0 {
		timeout = time.Second
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		ReadOnly:     true,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, lockedError(path)
	}
	return db, err
}

// lockedError is the sentence every tool gives for a file a daemon holds.
func lockedError(path string) error {
	return fmt.Errorf("%w: %s is in use (is jetmon-bridge running on it?): stop that process first, or work on a copy fetched from its GET /journal/snapshot", ErrLocked, path)
}

// ErrDamaged marks a journal file that bbolt itself could not read: it
// faulted or panicked on a page. Run 'jetmon-bridge journal verify' on it.
var ErrDamaged = errors.New("journal file is damaged")

// guard turns a bbolt panic or a memory fault on a damaged page (a file
// truncated under its own page count faults instead of failing) into an
// ErrDamaged error in *err. Use it as "defer guard(path, &err)()" in the
// goroutine that reads the file.
func guard(path string, err *error) func() {
	old := debug.SetPanicOnFault(true)
	return func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			*err = fmt.Errorf("%w: %s: reading it failed with %v (run 'jetmon-bridge journal verify -journal %s' for the details)", ErrDamaged, path, r, path)
		}
	}
}
