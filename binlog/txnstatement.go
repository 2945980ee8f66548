package binlog

import (
	"bytes"
	"encoding/hex"
	"strconv"
)

// txnStatement is a statement of a query event that shapes a transaction
// rather than changing data: its start and end, savepoints (savepoint.go)
// and XA (xa.go). The binlog carries them as text, as the server rewrote
// them (MariaDB: "SAVEPOINT `a`", "ROLLBACK TO `a`", "XA END" and the
// xid as hex strings), but a reader takes any spelling the grammar allows.
type txnStatement struct {
	kind txnStatementKind
	// name is a savepoint's name, as it compares (case-folded).
	name string
	// xid is an XA transaction's id in xidKey's form.
	xid string
	// onePhase marks XA COMMIT ... ONE PHASE.
	onePhase bool
}

type txnStatementKind uint8

const (
	stmtOther      txnStatementKind = iota
	stmtBegin                       // BEGIN, START TRANSACTION
	stmtCommit                      // COMMIT
	stmtRollback                    // ROLLBACK
	stmtSavepoint                   // SAVEPOINT name
	stmtRollbackTo                  // ROLLBACK [WORK] TO [SAVEPOINT] name
	stmtRelease                     // RELEASE SAVEPOINT name
	stmtXAStart                     // XA START|BEGIN xid
	stmtXAEnd                       // XA END xid
	stmtXAPrepare                   // XA PREPARE xid (binlogged as its own event; read here too)
	stmtXACommit                    // XA COMMIT xid [ONE PHASE]
	stmtXARollback                  // XA ROLLBACK xid
)

// parseTxnStatement reads q as a transaction statement; kind is stmtOther
// for anything else, and for a statement of the right kind whose name or
// xid cannot be read.
func parseTxnStatement(q []byte) txnStatement {
	// The common cases, once per transaction on MySQL (BEGIN) and for
	// MariaDB's non-transactional changes (COMMIT), without tokenizing.
	switch t := bytes.TrimSpace(q); {
	case bytes.EqualFold(t, []byte("BEGIN")):
		return txnStatement{kind: stmtBegin}
	case bytes.EqualFold(t, []byte("COMMIT")):
		return txnStatement{kind: stmtCommit}
	}
	toks := sqlTokens(q, true)
	if len(toks) == 0 {
		return txnStatement{}
	}
	p := &tokenCursor{toks: toks, at: 1}
	switch verb := toks[0]; {
	case verb.is("BEGIN"):
		p.word("WORK")
		if p.done() {
			return txnStatement{kind: stmtBegin}
		}
	case verb.is("START"):
		if p.word("TRANSACTION") {
			return txnStatement{kind: stmtBegin}
		}
	case verb.is("COMMIT"):
		return txnStatement{kind: stmtCommit}
	case verb.is("ROLLBACK"):
		p.word("WORK")
		if !p.word("TO") {
			return txnStatement{kind: stmtRollback}
		}
		p.word("SAVEPOINT")
		return savepointStatement(stmtRollbackTo, p)
	case verb.is("SAVEPOINT"):
		return savepointStatement(stmtSavepoint, p)
	case verb.is("RELEASE"):
		if p.word("SAVEPOINT") {
			return savepointStatement(stmtRelease, p)
		}
	case verb.is("XA"):
		var kind txnStatementKind
		switch {
		case p.word("START"), p.word("BEGIN"):
			kind = stmtXAStart
		case p.word("END"):
			kind = stmtXAEnd
		case p.word("PREPARE"):
			kind = stmtXAPrepare
		case p.word("COMMIT"):
			kind = stmtXACommit
		case p.word("ROLLBACK"):
			kind = stmtXARollback
		default:
			return txnStatement{}
		}
		xid, ok := readXID(p)
		if !ok {
			return txnStatement{}
		}
		st := txnStatement{kind: kind, xid: xid}
		st.onePhase = kind == stmtXACommit && p.word("ONE") && p.word("PHASE")
		return st
	}
	return txnStatement{}
}

// savepointStatement reads the savepoint name of a statement of kind.
func savepointStatement(kind txnStatementKind, p *tokenCursor) txnStatement {
	if p.done() || !p.peek().isName() {
		return txnStatement{}
	}
	// Savepoint names compare without regard to case.
	return txnStatement{kind: kind, name: lowerASCII(p.next().text)}
}

// readXID reads an XA transaction id: gtrid [, bqual [, formatID]], each
// part a string ('x1'), a hex string (X'7831') or a hex number (0x7831),
// formatID a number (1 when left out).
func readXID(p *tokenCursor) (string, bool) {
	gtrid, ok := xidPart(p)
	if !ok {
		return "", false
	}
	var bqual []byte
	format := int64(1)
	if p.punct(',') {
		if bqual, ok = xidPart(p); !ok {
			return "", false
		}
		if p.punct(',') {
			negative := p.punct('-')
			if p.done() || p.peek().kind != tokWord {
				return "", false
			}
			n, err := strconv.ParseInt(p.next().text, 0, 64)
			if err != nil {
				return "", false
			}
			if negative {
				n = -n
			}
			format = n
		}
	}
	return xidKey(format, gtrid, bqual), true
}

// xidPart reads a gtrid or bqual.
func xidPart(p *tokenCursor) ([]byte, bool) {
	if p.done() {
		return nil, false
	}
	t := p.next()
	switch t.kind {
	case tokString, tokDouble:
		return []byte(t.text), true
	case tokHex:
		b, err := hex.DecodeString(t.text)
		return b, err == nil
	case tokWord:
		if len(t.text) > 2 && (t.text[:2] == "0x" || t.text[:2] == "0X") {
			b, err := hex.DecodeString(t.text[2:])
			return b, err == nil
		}
	}
	return nil, false
}

// xidKey spells an XA transaction id as the follower keys it: the same
// whichever of the grammar's forms, or the XA_PREPARE event's bytes, it
// came in.
func xidKey(format int64, gtrid, bqual []byte) string {
	return hex.EncodeToString(gtrid) + "," + hex.EncodeToString(bqual) + "," + strconv.FormatInt(format, 10)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
