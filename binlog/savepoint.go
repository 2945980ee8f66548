package binlog

import "fmt"

// Savepoints inside a transaction. A transaction that rolls back to a
// savepoint has, when it also changed a non-transactional table (MyISAM,
// Aria), the changes it undid in the binlog all the same: "SAVEPOINT `a`",
// rows, "ROLLBACK TO `a`", more rows, then the commit. (With transactional
// tables alone the server drops the undone rows from its binlog cache and
// writes only "SAVEPOINT `a`".) Neither ends the transaction: a replica
// applies the rows and undoes them as the source did, and so does the
// applier, with the open transaction's changes.

// savepoint marks where a transaction's changes stood when a savepoint was
// set.
type savepoint struct {
	name string // case-folded: savepoint names compare without case
	at   int    // len(applier.txn) then
}

// savepointStatement applies SAVEPOINT, ROLLBACK TO SAVEPOINT or RELEASE
// SAVEPOINT to the open transaction.
func (a *applier) savepointStatement(st txnStatement) error {
	if !a.inTxn {
		// Outside a transaction (autocommit) a savepoint is a statement
		// that changes nothing.
		a.settleIdle()
		return nil
	}
	i := len(a.savepoints) - 1
	for i >= 0 && a.savepoints[i].name != st.name {
		i--
	}
	switch st.kind {
	case stmtSavepoint:
		// A savepoint set again under its name moves; the others stay.
		if i >= 0 {
			a.savepoints = append(a.savepoints[:i], a.savepoints[i+1:]...)
		}
		a.savepoints = append(a.savepoints, savepoint{name: st.name, at: len(a.txn)})
	case stmtRollbackTo:
		if i < 0 {
			// Which changes stand is unknown: a gap, rather than a guess or
			// a follower stopped here at every restart.
			return &coverageLost{reason: ReasonUnknownSavepoint, detail: fmt.Sprintf(
				"ROLLBACK TO SAVEPOINT %s at %s names no savepoint of its transaction the bridge read", st.name, a.pos)}
		}
		// The changes since are undone; savepoints set after it are gone,
		// it stays.
		a.txn = a.txn[:a.savepoints[i].at]
		a.savepoints = a.savepoints[:i+1]
	case stmtRelease:
		if i >= 0 {
			a.savepoints = a.savepoints[:i]
		}
	}
	return nil
}
