package journal

import (
	"fmt"
	"slices"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// An XA transaction is prepared in one binlog event group (XA START, its
// rows, XA END, XA PREPARE) and committed or rolled back in a later one,
// perhaps much later and with any number of other transactions between.
// Its changes belong to the journal only at its XA COMMIT. The checkpoint
// after its prepare lies past its rows, so a follower stopped (or killed)
// between the two would never read them again: the checkpoint carries the
// prepared transactions the follower read, with their changes, until their
// commit or rollback.

// Bounds on what a checkpoint carries (every commit writes it): prepared
// XA transactions are normally few and short-lived. Past a bound the
// follower cannot keep them: it records a gap with the error, which names
// the fix, and starts afresh (binlog/xa.go); stopping instead would stop it
// for good, since it would meet the same prepare again at every restart.
const (
	MaxPreparedXA      = 256  // prepared transactions, whatever tables they touch
	MaxPreparedChanges = 4096 // their changes to the followed table, together
)

// PreparedXA is an XA transaction prepared on the followed server and
// neither committed nor rolled back yet.
type PreparedXA struct {
	// XID identifies it as the follower spells it: the hex of its gtrid
	// and bqual and its formatID, "7831,,1" for XA START 'x1'.
	XID string `json:"xid"`
	// Changes are its changes to the followed table, in binlog order.
	Changes []PreparedChange `json:"changes,omitempty"`
}

// PreparedChange is one row change of a prepared transaction.
type PreparedChange struct {
	// Row is the row as the change leaves it; when Deleted, the row it
	// removed.
	Row     PreparedRow `json:"row"`
	Deleted bool        `json:"deleted,omitempty"`
	// Event is the transition the change makes, if any.
	Event *PreparedEvent `json:"event,omitempty"`
}

// PreparedRow is a bridge.Monitor as a checkpoint spells it.
type PreparedRow struct {
	Site    uint64    `json:"site"`
	Blog    uint64    `json:"blog"`
	URL     string    `json:"url"`
	Active  bool      `json:"active,omitempty"`
	Status  uint8     `json:"status"`
	Changed time.Time `json:"changed,omitzero"`
}

// PreparedEvent is a transition of a prepared transaction. Its time is the
// row's new last_status_change; when the change left that column alone,
// AtCommit says so and the event takes the time of the XA COMMIT (as any
// transition takes the time of its binlog event then).
type PreparedEvent struct {
	Blog     uint64    `json:"blog"`
	Old      uint8     `json:"old"`
	New      uint8     `json:"new"`
	At       time.Time `json:"at,omitzero"`
	AtCommit bool      `json:"at_commit,omitempty"`
}

// NewPreparedRow is m as a checkpoint spells it.
func NewPreparedRow(m bridge.Monitor) PreparedRow {
	return PreparedRow{Site: m.SiteID, Blog: m.BlogID, URL: m.URL, Active: m.Active, Status: uint8(m.Status), Changed: m.LastStatusChange}
}

// Monitor is the row r spells.
func (r PreparedRow) Monitor() bridge.Monitor {
	return bridge.Monitor{SiteID: r.Site, BlogID: r.Blog, URL: r.URL, Active: r.Active, Status: bridge.Status(r.Status), LastStatusChange: r.Changed}
}

// CheckPrepared fails when prepared holds more than a checkpoint may carry.
func CheckPrepared(prepared []PreparedXA) error {
	changes := 0
	for _, p := range prepared {
		changes += len(p.Changes)
	}
	if len(prepared) > MaxPreparedXA || changes > MaxPreparedChanges {
		return fmt.Errorf("%d XA transactions with %d changes to %s are prepared on the server and neither committed nor rolled back, "+
			"more than the bridge keeps (%d transactions, %d changes): commit or roll them back (XA RECOVER lists them)",
			len(prepared), changes, bridge.Table, MaxPreparedXA, MaxPreparedChanges)
	}
	return nil
}

func clonePrepared(prepared []PreparedXA) []PreparedXA {
	if prepared == nil {
		return nil
	}
	out := make([]PreparedXA, len(prepared))
	for i, p := range prepared {
		out[i] = PreparedXA{XID: p.XID, Changes: slices.Clone(p.Changes)}
		for j, c := range out[i].Changes {
			if c.Event != nil {
				e := *c.Event
				out[i].Changes[j].Event = &e
			}
		}
	}
	return out
}
