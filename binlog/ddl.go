package binlog

// mayChangeLayout reports whether query, a statement the binlog carries as
// text, may change the column layout of schema.table: every such statement
// is a layout boundary, after which rows of the table are decoded only by a
// layout proven for them (layoutproof.go). defaultSchema is the database the
// statement ran in (the query event's), against which unqualified names
// resolve; "" when unknown.
//
// It reads the statement as the server does (sqlTokens: comments dropped,
// executable comments kept, quoting and qualification understood) and errs
// toward a boundary: a false one costs at most a gap in coverage, a missed
// one a wrong answer. So:
//   - ALTER TABLE, CREATE TABLE, DROP TABLE, TRUNCATE and RENAME TABLE are
//     boundaries when they name the table (RENAME on either side, so the
//     cut-over of gh-ost or pt-online-schema-change is one; ALTER TABLE
//     another ... RENAME TO or EXCHANGE PARTITION ... WITH TABLE it too);
//     DROP DATABASE when it drops the schema;
//   - statements that cannot change a table's columns (transaction control,
//     row changes, GRANT, ANALYZE, ...) never are;
//   - any other statement is one when it mentions the table at all.
//
// Names compare without regard to case (on a server where they matter, two
// tables differing in case only are a false boundary, not a missed one).
// The statement is read with and without backslash escapes in strings
// (sql_mode NO_BACKSLASH_ESCAPES, which the reader cannot see), and is a
// boundary if either reading says so.
func mayChangeLayout(query []byte, defaultSchema, schema, table string) bool {
	t := tableRef{defaultSchema: defaultSchema, schema: schema, table: table}
	return t.boundary(sqlTokens(query, true)) || t.boundary(sqlTokens(query, false))
}

// tableRef is the followed table as a statement's names may refer to it.
type tableRef struct {
	defaultSchema, schema, table string
}

// noLayoutChange are the statements that cannot change a table's columns,
// by their first word.
var noLayoutChange = map[string]bool{
	"BEGIN": true, "COMMIT": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true, "XA": true,
	"INSERT": true, "UPDATE": true, "DELETE": true, "REPLACE": true, "LOAD": true, "SELECT": true, "DO": true,
	"GRANT": true, "REVOKE": true, "ANALYZE": true, "CHECK": true, "CHECKSUM": true, "OPTIMIZE": true,
	"REPAIR": true, "FLUSH": true, "LOCK": true, "UNLOCK": true, "HANDLER": true, "SHOW": true, "PURGE": true,
	"KILL": true,
}

func (t tableRef) boundary(toks []sqlToken) bool {
	if len(toks) == 0 || toks[0].kind != tokWord {
		return t.mentioned(toks)
	}
	verb := toks[0]
	if noLayoutChange[upperASCII(verb.text)] {
		return false
	}
	p := &tokenCursor{toks: toks, at: 1}
	switch {
	case verb.is("ALTER"):
		p.skipWords("ONLINE", "OFFLINE", "IGNORE")
		if !p.word("TABLE") {
			return t.mentioned(toks)
		}
		p.ifExists()
		ours, ok := t.name(p)
		if !ok {
			return t.mentioned(toks)
		}
		return ours || t.alterBringsIn(p)
	case verb.is("CREATE"):
		if p.word("OR") && !p.word("REPLACE") {
			return t.mentioned(toks)
		}
		p.skipWords("TEMPORARY")
		if !p.word("TABLE") {
			return t.mentioned(toks)
		}
		if p.word("IF") {
			p.word("NOT")
			p.word("EXISTS")
		}
		ours, ok := t.name(p)
		return ours || !ok
	case verb.is("DROP"):
		if p.word("DATABASE") || p.word("SCHEMA") {
			p.ifExists()
			if p.done() || !p.peek().isName() {
				return true
			}
			return equalFoldASCII(p.next().text, t.schema)
		}
		p.skipWords("TEMPORARY")
		if !p.word("TABLE") && !p.word("TABLES") {
			return t.mentioned(toks)
		}
		p.ifExists()
		return t.anyName(p)
	case verb.is("RENAME"):
		if !p.word("TABLE") && !p.word("TABLES") {
			return t.mentioned(toks)
		}
		p.ifExists()
		return t.anyName(p)
	case verb.is("TRUNCATE"):
		p.word("TABLE")
		ours, ok := t.name(p)
		return ours || !ok
	}
	return t.mentioned(toks)
}

// alterBringsIn reports whether the rest of an ALTER TABLE of another table
// puts a table named like the followed one in its place or takes it from
// there: RENAME [TO|AS] name (not RENAME COLUMN, INDEX, KEY or
// CONSTRAINT), or EXCHANGE PARTITION ... WITH TABLE name.
func (t tableRef) alterBringsIn(p *tokenCursor) bool {
	for !p.done() {
		switch tok := p.next(); {
		case tok.is("RENAME"):
			if p.word("COLUMN") || p.word("INDEX") || p.word("KEY") || p.word("CONSTRAINT") {
				continue
			}
			if !p.word("TO") {
				p.word("AS")
			}
			if ours, ok := t.name(p); ours || !ok {
				return true
			}
		case tok.is("WITH"):
			if p.word("TABLE") {
				if ours, ok := t.name(p); ours || !ok {
					return true
				}
			}
		}
	}
	return false
}

// anyName reads a list of names (DROP TABLE a, b; RENAME TABLE a TO b, c TO
// d) and reports whether any is the followed table, or the list cannot be
// read.
func (t tableRef) anyName(p *tokenCursor) bool {
	for {
		ours, ok := t.name(p)
		if ours || !ok {
			return true
		}
		if p.done() {
			return false
		}
		if !p.punct(',') && !p.word("TO") {
			// RESTRICT, CASCADE, WAIT n, NOWAIT, a comment's leftovers:
			// the names are over.
			return false
		}
	}
}

// name reads a table name, [schema.]table, and reports whether it is the
// followed table; ok is false when no name stands there.
func (t tableRef) name(p *tokenCursor) (ours, ok bool) {
	if p.done() || !p.peek().isName() {
		return false, false
	}
	first := p.next()
	if p.peekPunct('.') {
		p.next()
		if p.done() || !p.peek().isName() {
			return false, false
		}
		second := p.next()
		return equalFoldASCII(first.text, t.schema) && equalFoldASCII(second.text, t.table), true
	}
	return t.unqualified(first.text), true
}

// unqualified reports whether name, standing alone, is the followed table:
// it is when the statement ran in the table's database, or in none known.
func (t tableRef) unqualified(name string) bool {
	return equalFoldASCII(name, t.table) && (t.defaultSchema == "" || equalFoldASCII(t.defaultSchema, t.schema))
}

// mentioned reports whether the followed table's name appears anywhere
// among toks as a name: schema.table, or table alone where it resolves to
// the followed one (also as the qualifier of a column, table.column).
func (t tableRef) mentioned(toks []sqlToken) bool {
	for i, tok := range toks {
		if !tok.isName() || !equalFoldASCII(tok.text, t.table) {
			continue
		}
		if i >= 2 && toks[i-1].isPunct('.') {
			// schema.table (or schema.table.column); otherwise another
			// schema's table, or a column named like the table.
			if toks[i-2].isName() && equalFoldASCII(toks[i-2].text, t.schema) {
				return true
			}
			continue
		}
		if t.unqualified(tok.text) {
			return true
		}
	}
	return false
}

// tokenCursor walks a statement's tokens.
type tokenCursor struct {
	toks []sqlToken
	at   int
}

func (p *tokenCursor) done() bool            { return p.at >= len(p.toks) }
func (p *tokenCursor) peek() sqlToken        { return p.toks[p.at] }
func (p *tokenCursor) next() sqlToken        { p.at++; return p.toks[p.at-1] }
func (p *tokenCursor) peekPunct(c byte) bool { return !p.done() && p.peek().isPunct(c) }

// word steps over the word w if it comes next.
func (p *tokenCursor) word(w string) bool {
	if !p.done() && p.peek().is(w) {
		p.at++
		return true
	}
	return false
}

// punct steps over the punctuation c if it comes next.
func (p *tokenCursor) punct(c byte) bool {
	if p.peekPunct(c) {
		p.at++
		return true
	}
	return false
}

// skipWords steps over any of words, in any order, as they come.
func (p *tokenCursor) skipWords(words ...string) {
	for stepped := true; stepped; {
		stepped = false
		for _, w := range words {
			if p.word(w) {
				stepped = true
			}
		}
	}
}

// ifExists steps over IF EXISTS.
func (p *tokenCursor) ifExists() {
	if p.word("IF") {
		p.word("EXISTS")
	}
}

func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}
