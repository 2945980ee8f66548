package sim

import (
	"context"
	"fmt"

	bridge "github.com/automattic/jetmon-bridge"
)

// txnShape is the transaction a single-blog step is made in: shapes a binlog
// follower must keep atomic, whose rolled-back changes it must never report.
type txnShape uint8

const (
	// shapePlain is the step's UPDATE alone, autocommitted.
	shapePlain txnShape = iota
	// shapeSavepointRollback sets the blog to a status the step does not
	// make, undoes that with ROLLBACK TO SAVEPOINT, then makes the step and
	// COMMITs: only the step is in the truth.
	shapeSavepointRollback
	// shapeXATwoPhase makes the step in an XA transaction: XA PREPARE, then
	// XA COMMIT.
	shapeXATwoPhase
	// shapeXAOnePhase makes the step in an XA transaction committed with XA
	// COMMIT ... ONE PHASE.
	shapeXAOnePhase
	// shapeXARollback makes the step in an XA transaction that is prepared
	// and then rolled back (not in the truth), then makes it plainly.
	shapeXARollback
)

// shaped runs the transaction of a's shape. For every shape but
// shapeXARollback it commits a's step and reports it; a shapeXARollback
// changes nothing, and the caller then makes the step plainly. The
// transaction holds commitMu from its first statement to its commit, so
// that its transition's number is its commit's place in the binlog.
func (w *worker) shaped(ctx context.Context, a action) error {
	b, from, to := a.blogs[0], a.from, a.path[0]
	type statement struct {
		q    string
		args []any
	}
	set := func(status bridge.Status) statement {
		return statement{JetmonUpdate, []any{uint8(status), w.sites[b].BlogID, w.sites[b].URL}}
	}
	plain := func(q string) statement { return statement{q: q} }
	w.xids++
	xid := fmt.Sprintf("'%s-%d'", w.xidPrefix, w.xids) // digits and dashes: no quoting needed
	var stmts []statement
	switch a.shape {
	case shapeSavepointRollback:
		stmts = []statement{plain("BEGIN"), plain("SAVEPOINT undone"), set(nextStatus(to)), plain("ROLLBACK TO SAVEPOINT undone"), set(to), plain("COMMIT")}
	case shapeXATwoPhase:
		stmts = []statement{plain("XA START " + xid), set(to), plain("XA END " + xid), plain("XA PREPARE " + xid), plain("XA COMMIT " + xid)}
	case shapeXAOnePhase:
		stmts = []statement{plain("XA START " + xid), set(to), plain("XA END " + xid), plain("XA COMMIT " + xid + " ONE PHASE")}
	case shapeXARollback:
		stmts = []statement{plain("XA START " + xid), set(to), plain("XA END " + xid), plain("XA PREPARE " + xid), plain("XA ROLLBACK " + xid)}
	default:
		return fmt.Errorf("sim: unknown transaction shape %d", a.shape)
	}

	r := w.run
	var seq, stmtNo uint64
	err := func() error {
		r.commitMu.Lock()
		defer r.commitMu.Unlock()
		for _, st := range stmts {
			sctx, cancel := context.WithTimeout(ctx, statementTimeout)
			_, err := w.conn.ExecContext(sctx, st.q, st.args...)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", st.q, err)
			}
		}
		if a.shape != shapeXARollback {
			seq, stmtNo = r.numberCommit(1)
		}
		return nil
	}()
	if err != nil {
		return fmt.Errorf("blog %d in a transaction of shape %d: %w", w.sites[b].BlogID, a.shape, err)
	}
	switch a.shape {
	case shapeSavepointRollback:
		w.stats.SavepointRollbacks++
	case shapeXATwoPhase:
		w.stats.XATwoPhase++
	case shapeXAOnePhase:
		w.stats.XAOnePhase++
	case shapeXARollback:
		w.stats.XARollbacks++
		return nil
	}
	return w.report(ctx, []int{b}, from, to, seq, stmtNo)
}
