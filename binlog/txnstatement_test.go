package binlog

import "testing"

func TestTxnStatements(t *testing.T) {
	x1 := xidKey(1, []byte("x1"), nil)
	for _, c := range []struct {
		query string
		want  txnStatement
	}{
		{"BEGIN", txnStatement{kind: stmtBegin}},
		{" commit ", txnStatement{kind: stmtCommit}},
		{"ROLLBACK", txnStatement{kind: stmtRollback}},
		{"SAVEPOINT `a`", txnStatement{kind: stmtSavepoint, name: "a"}},
		{"savepoint A", txnStatement{kind: stmtSavepoint, name: "a"}},
		{"ROLLBACK TO `a`", txnStatement{kind: stmtRollbackTo, name: "a"}},
		{"rollback work to savepoint /* x */ a", txnStatement{kind: stmtRollbackTo, name: "a"}},
		{"RELEASE SAVEPOINT `a`", txnStatement{kind: stmtRelease, name: "a"}},
		{"XA END X'7831',X'',1", txnStatement{kind: stmtXAEnd, xid: x1}},
		{"XA COMMIT 'x1'", txnStatement{kind: stmtXACommit, xid: x1}},
		{"xa commit 0x7831,'',1 one phase", txnStatement{kind: stmtXACommit, xid: x1, onePhase: true}},
		{"XA ROLLBACK X'7831',X'62',-1", txnStatement{kind: stmtXARollback, xid: xidKey(-1, []byte("x1"), []byte("b"))}},
		{"XA START 'x1'", txnStatement{kind: stmtXAStart, xid: x1}},
		{"XA PREPARE 'x1'", txnStatement{kind: stmtXAPrepare, xid: x1}},
		{"XA RECOVER", txnStatement{}},
		{"XA COMMIT", txnStatement{}},
		{"ROLLBACK TO", txnStatement{}},
		{"ALTER TABLE t ADD x INT", txnStatement{}},
		{"BEGIN NOT ATOMIC SELECT 1; END", txnStatement{}},
	} {
		if got := parseTxnStatement([]byte(c.query)); got != c.want {
			t.Errorf("parseTxnStatement(%q) = %+v, want %+v", c.query, got, c.want)
		}
	}
}

// TestUnknownSavepointIsAGap: a ROLLBACK TO a savepoint the follower never
// read leaves unknown which changes stand: a gap, not a stop it would meet
// at every restart.
func TestUnknownSavepointIsAGap(t *testing.T) {
	a := &applier{inTxn: true, txn: make([]change, 3)}
	if err := a.savepointStatement(txnStatement{kind: stmtSavepoint, name: "a"}); err != nil {
		t.Fatal(err)
	}
	err := a.savepointStatement(txnStatement{kind: stmtRollbackTo, name: "b"})
	if lost, ok := err.(*coverageLost); !ok || lost.reason != ReasonUnknownSavepoint {
		t.Fatalf("ROLLBACK TO an unknown savepoint: %v, want coverage lost (%s)", err, ReasonUnknownSavepoint)
	}
	a.txn = append(a.txn, change{}, change{})
	if err := a.savepointStatement(txnStatement{kind: stmtRollbackTo, name: "a"}); err != nil || len(a.txn) != 3 {
		t.Fatalf("ROLLBACK TO a: %v, %d changes left, want the 3 before it", err, len(a.txn))
	}
	// The savepoint outlives a rollback to it: the transaction may roll
	// back to it again, undoing only what came after.
	a.txn = append(a.txn, change{})
	if err := a.savepointStatement(txnStatement{kind: stmtRollbackTo, name: "a"}); err != nil || len(a.txn) != 3 {
		t.Fatalf("ROLLBACK TO a again: %v, %d changes left, want the 3 before it", err, len(a.txn))
	}
}
