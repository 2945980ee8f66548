package binlog

import "fmt"

// Gap reasons for what the applier cannot vouch for (coverageLost).
const (
	// ReasonSchemaChanged: rows of the table lie after a statement that may
	// have changed its layout, and the layout they were written with can
	// no longer be known (layoutproof.go).
	ReasonSchemaChanged = "schema changed while the bridge was behind"
	// ReasonUnknownXA: an XA transaction the follower never saw prepared
	// (prepared before coverage began) was committed: what it changed is
	// unknown (xa.go).
	ReasonUnknownXA = "an XA transaction prepared before coverage began was committed"
	// ReasonTooManyXA: more XA transactions are prepared and pending than
	// the checkpoint keeps (journal.CheckPrepared).
	ReasonTooManyXA = "more XA transactions prepared than the bridge keeps"
	// ReasonUnknownSavepoint: a transaction rolled back to a savepoint the
	// follower did not read, so which of its changes stand is unknown
	// (savepoint.go).
	ReasonUnknownSavepoint = "a transaction rolled back to a savepoint the bridge did not read"
)

// coverageLost ends a stream where the applier can no longer vouch for
// what follows: decoding on would be a guess. Nothing of the transaction
// being read is committed (the batch of the transactions before it is:
// applier.loop); the follower then records a gap with the reason and
// starts a fresh span from a new snapshot of the table (Follower.run),
// which reads the table as it is, so the same events never stop it again.
type coverageLost struct {
	reason string // the gap's reason, one of the Reason constants
	detail string // what happened, where: for the log
}

func (e *coverageLost) Error() string { return fmt.Sprintf("%s: %s", e.reason, e.detail) }
