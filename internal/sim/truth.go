package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// Transition is one committed site_status change of one blog: a line of the
// ground truth.
type Transition struct {
	BlogID   uint64
	Old, New bridge.Status
	// CreatedAt is the row's last_status_change right after the UPDATE that
	// made the transition, read back from the server (whole seconds, UTC).
	CreatedAt time.Time
	// Seq numbers transitions 1, 2, 3, ... in commit order. Within one
	// multi-row statement it follows the order of the rows' blog_ids.
	Seq uint64
	// Stmt numbers the transition statements 1, 2, 3, ... in commit order;
	// the transitions of one multi-row UPDATE (one binlog transaction) share
	// it.
	Stmt uint64
}

// Event returns t as the bridge serves it, with ID 0: the journal's
// sequence number is the bridge's to assign.
func (t Transition) Event() bridge.Event {
	return bridge.Event{BlogID: t.BlogID, OldStatus: t.Old, NewStatus: t.New, CreatedAt: t.CreatedAt.UTC()}
}

// AppendJSON appends t as one truth line, without the newline:
//
//	{"blog_id":12345,"old_status":1,"new_status":0,"created_at":"2026-04-22T14:05:33Z","seq":7,"stmt":5}
func (t Transition) AppendJSON(b []byte) []byte {
	b = append(b, `{"blog_id":`...)
	b = strconv.AppendUint(b, t.BlogID, 10)
	b = append(b, `,"old_status":`...)
	b = strconv.AppendUint(b, uint64(t.Old), 10)
	b = append(b, `,"new_status":`...)
	b = strconv.AppendUint(b, uint64(t.New), 10)
	b = append(b, `,"created_at":"`...)
	b = t.CreatedAt.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, t.Seq, 10)
	b = append(b, `,"stmt":`...)
	b = strconv.AppendUint(b, t.Stmt, 10)
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler with the truth line's form.
func (t Transition) MarshalJSON() ([]byte, error) { return t.AppendJSON(nil), nil }

// JSONLines returns a truth callback for Run that writes each transition to
// w as one JSON line, with a single Write per line so that a reader tailing
// the file only ever sees whole lines.
func JSONLines(w io.Writer) func(Transition) error {
	var buf []byte
	return func(t Transition) error {
		buf = append(t.AppendJSON(buf[:0]), '\n')
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write truth: %w", err)
		}
		return nil
	}
}

type truthLine struct {
	BlogID    *uint64 `json:"blog_id"`
	Old       *uint8  `json:"old_status"`
	New       *uint8  `json:"new_status"`
	CreatedAt *string `json:"created_at"`
	Seq       *uint64 `json:"seq"`
	Stmt      uint64  `json:"stmt"`
}

// ReadTruth reads a ground-truth file written by JSONLines (or by hand):
// one JSON object per line, blank lines ignored. blog_id, old_status,
// new_status, created_at (RFC 3339) and seq are required; stmt is optional.
func ReadTruth(r io.Reader) ([]Transition, error) {
	var out []Transition
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		t, err := parseTruthLine(line)
		if err != nil {
			return out, fmt.Errorf("truth line %d: %w", n, err)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read truth: %w", err)
	}
	return out, nil
}

func parseTruthLine(line []byte) (Transition, error) {
	var l truthLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Transition{}, err
	}
	if dec.More() {
		return Transition{}, errors.New("more than one JSON value on the line")
	}
	switch {
	case l.BlogID == nil:
		return Transition{}, errors.New(`missing "blog_id"`)
	case l.Old == nil:
		return Transition{}, errors.New(`missing "old_status"`)
	case l.New == nil:
		return Transition{}, errors.New(`missing "new_status"`)
	case l.CreatedAt == nil:
		return Transition{}, errors.New(`missing "created_at"`)
	case l.Seq == nil:
		return Transition{}, errors.New(`missing "seq"`)
	}
	t := Transition{BlogID: *l.BlogID, Old: bridge.Status(*l.Old), New: bridge.Status(*l.New), Seq: *l.Seq, Stmt: l.Stmt}
	if !t.Old.Valid() || !t.New.Valid() {
		return Transition{}, fmt.Errorf("status %d -> %d: statuses are 0, 1 or 2", *l.Old, *l.New)
	}
	at, err := time.Parse(time.RFC3339Nano, *l.CreatedAt)
	if err != nil {
		return Transition{}, fmt.Errorf("created_at: %w", err)
	}
	t.CreatedAt = at.UTC()
	return t, nil
}
