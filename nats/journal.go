package nats

import (
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
)

// Journal is what the Publisher reads of a journal; *journal.Journal is
// one. It is kept to these few questions so that a journal which forgets
// its oldest events (retention) changes only their answers, each of which
// the Publisher already handles:
//
//   - EventsAfter beginning later than asked: the events the stream lacks
//     are gone, and publish refuses to skip them (it never trims past what
//     the stream is known to hold, Status.Position, when retention keeps
//     that rule);
//   - FindGTID missing a forgotten transaction: placed like any other
//     transaction the journal does not hold (resume.go), so never taken for
//     a journal that begins after the stream;
//   - Spans: the coverage the journal still vouches for, which the
//     messages' coverage claims repeat (coverage.go).
type Journal interface {
	// Identity is the journal's name among journals (journal/identity.go).
	Identity() (string, error)
	// LastID is the id of the last event committed.
	LastID() uint64
	// Changed is closed at the next commit.
	Changed() <-chan struct{}
	// EventsAfter returns up to limit events after the id after, in id
	// order, with their source transactions.
	EventsAfter(after uint64, limit int) ([]journal.SourcedEvent, error)
	// FindGTID returns the ids of the source transaction's events.
	FindGTID(gtid string) (first, count uint64, ok bool, err error)
	// Checkpoint is the position the follower resumes from.
	Checkpoint() (journal.Checkpoint, bool)
	// Spans are the coverage spans; with a zero asOf the open one ends
	// where the follower last proved it.
	Spans(asOf time.Time) []bridge.Span
}

// The journal's own type answers every question.
var _ Journal = (*journal.Journal)(nil)
