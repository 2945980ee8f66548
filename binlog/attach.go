package binlog

import (
	"time"

	"github.com/automattic/jetmon-bridge/journal"
)

// The journal is attached to the follower while the follower can prove
// how far it has caught up (journal.Journal.Attach): a request whose window
// reaches past the open span's end then asks the follower (probe) rather
// than answering from the span's durable end.
//
// stream attaches at each connection's start, once the stream is placed
// (restartAt): the first moment a probe can succeed. Attaching again on a
// reconnection changes nothing. Run detaches once, when it returns, after
// recording what the follower proved: between two connections of one Run
// the journal stays attached and a probe fails at once (errNoConnection),
// so a window past the span's end answers `mixed`, as it would detached.

// attachJournal marks the journal as fed by this follower.
func (f *Follower) attachJournal() { f.cfg.Journal.Attach(f.probe) }

// detachJournal records the coverage the follower proved, up to its last
// confirmation (instead of falling back to the last heartbeat's commit),
// then marks the journal as no longer followed.
func (f *Follower) detachJournal() {
	if c := f.cfg.Journal.Confirmed(); !c.IsZero() {
		if err := f.cfg.Journal.Commit(&journal.Batch{CoveredTo: c.Truncate(time.Second)}); err != nil {
			f.log.Warn("could not record coverage on stopping", "error", err)
		}
	}
	f.cfg.Journal.Detach()
}
