package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// OpenForTools opens a journal read-only for the operator tools (stats,
// export, timeline, replay), after proving with bounds-checked reads that
// bbolt can read its pages without crashing: such a file may come from
// anywhere (a copy, a backup, another machine). A file held by a running
// daemon fails with ErrLocked; a damaged one with ErrDamaged, naming the
// first defects and 'journal verify' for the rest.
//
// The structural check reads every page once, so opening costs about one
// sequential read of the file.
func OpenForTools(path string) (j *Journal, err error) {
	// The shared lock is held throughout, so no daemon can start writing
	// between the check and the open.
	lock, err := openRaw(path, 0)
	if errors.Is(err, ErrLocked) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s cannot be opened: %v (run 'jetmon-bridge journal verify -journal %s')", ErrDamaged, path, err, path)
	}
	defer lock.Close()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	r := &Report{Path: path}
	if !r.checkStructure(path, fi.Size()) {
		shown := r.Problems
		if len(shown) > 3 {
			shown = shown[:3]
		}
		return nil, fmt.Errorf("%w: %s: %s (run 'jetmon-bridge journal verify -journal %s' for the whole list)", ErrDamaged, path, strings.Join(shown, "; "), path)
	}
	defer guard(path, &err)()
	return Open(path, Options{ReadOnly: true})
}
