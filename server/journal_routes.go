package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/automattic/jetmon-bridge/internal/timeline"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/gorilla/mux"
)

// MountJournal adds the routes that read the journal file itself to r:
//
//   - GET /journal/snapshot: a consistent copy of the whole journal (a hot
//     backup), as application/octet-stream with its exact Content-Length.
//     It opens with "jetmon-bridge replay" and the "journal" tools.
//   - GET /events/timeline.svg?blog_id=B[,B...]&since=S&until=T: the
//     blogs' status over the window, drawn as an SVG.
//
// Mount them on Server.Router before calling Handler, so the token guards
// them like every other route. log receives failures; nil means
// slog.Default().
func MountJournal(r *mux.Router, j *journal.Journal, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	(&journalRoutes{j: j, log: log, stall: snapshotStall}).mount(r)
}

func (jr *journalRoutes) mount(r *mux.Router) {
	r.HandleFunc("/journal/snapshot", jr.snapshot).Methods(http.MethodGet)
	r.HandleFunc("/events/timeline.svg", jr.timeline).Methods(http.MethodGet)
}

type journalRoutes struct {
	j   *journal.Journal
	log *slog.Logger
	// stall is how long a snapshot download may make no progress.
	stall time.Duration
	// snapshotting admits one snapshot at a time: each spools a full copy.
	snapshotting sync.Mutex
}

// snapshot spools the copy to a temporary file before sending it. bbolt
// cannot grow its memory map while a read transaction is open, so streaming
// straight from the transaction to a slow or stalled client would stall the
// follower's commits; the spool holds the transaction only as long as a
// local disk copy takes. The spool lives beside the journal (same disk,
// which the journal already needs room on) and is unlinked at once, so
// nothing is left behind even after a crash.
func (jr *journalRoutes) snapshot(w http.ResponseWriter, r *http.Request) {
	if !jr.snapshotting.TryLock() {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, "a snapshot is already being taken; retry when it has finished")
		return
	}
	defer jr.snapshotting.Unlock()
	spool, err := createSpool(filepath.Dir(jr.j.Path()))
	if err != nil {
		jr.log.Error("snapshot: cannot create a spool file", "error", err)
		writeError(w, http.StatusServiceUnavailable, "snapshot: cannot create a temporary file beside the journal or in "+os.TempDir()+": "+err.Error())
		return
	}
	defer spool.Close()
	start := time.Now()
	size, err := jr.j.Snapshot(spool, nil)
	if err == nil {
		_, err = spool.Seek(0, io.SeekStart)
	}
	if err != nil {
		jr.log.Error("snapshot failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, "snapshot: "+err.Error()+" (is the disk beside the journal full?)")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="jetmon-bridge-%s.journal"`, start.UTC().Format("20060102T150405Z")))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if n, err := sendPaced(w, spool, jr.stall); err != nil {
		jr.log.Warn("snapshot: the client went away or stopped reading", "sent", n, "size", size, "error", err)
		return
	}
	jr.log.Info("journal snapshot sent", "bytes", size, "took", time.Since(start).Round(time.Millisecond))
}

// snapshotStall is how long a snapshot download may make no progress before
// the connection is cut: a client that stops reading would otherwise hold
// the spool (a full copy of the journal on disk) and the one snapshot slot
// for ever. The download as a whole has no deadline, however large.
const snapshotStall = time.Minute

// sendPaced copies f to w in chunks, giving each chunk stall to be written.
func sendPaced(w http.ResponseWriter, f *os.File, stall time.Duration) (int64, error) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 256<<10)
	var sent int64
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			// Unsupported only under a ResponseWriter that hides the
			// connection; the copy then runs without a stall bound.
			rc.SetWriteDeadline(time.Now().Add(stall))
			m, err := w.Write(buf[:n])
			sent += int64(m)
			if err != nil {
				return sent, err
			}
		}
		if rerr == io.EOF {
			return sent, nil
		}
		if rerr != nil {
			return sent, rerr
		}
	}
}

// createSpool creates an already unlinked temporary file in dir, or in the
// system's temporary directory when dir is not writable.
func createSpool(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, ".jetmon-bridge-snapshot-*")
	if err != nil {
		var err2 error
		if f, err2 = os.CreateTemp("", "jetmon-bridge-snapshot-*"); err2 != nil {
			return nil, errors.Join(err, err2)
		}
	}
	os.Remove(f.Name())
	return f, nil
}

// timeline answers GET /events/timeline.svg.
func (jr *journalRoutes) timeline(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	raw, ok := q["blog_id"]
	if !ok {
		writeError(w, http.StatusBadRequest, "missing required parameter blog_id (one id or several separated by commas)")
		return
	}
	// Both blog_id=1,2 and blog_id=1&blog_id=2 ask for two rows.
	blogs, err := timeline.ParseBlogIDs(strings.Join(raw, ","))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	since, err := parseTimeParam(q, "since")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	until, err := parseTimeParam(q, "until")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	chart, err := timeline.Build(r.Context(), jr.j, blogs, since, until, jr.j.Now())
	if errors.Is(err, timeline.ErrRequest) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		jr.log.Error("timeline failed", "error", err)
		code := http.StatusServiceUnavailable
		if r.Context().Err() != nil {
			code = http.StatusGatewayTimeout
		}
		writeError(w, code, err.Error())
		return
	}
	var b strings.Builder
	if err := timeline.Render(&b, chart); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, b.String())
}
