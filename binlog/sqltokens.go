package binlog

// The follower reads a few statements the binlog carries as text (query
// events): DDL, to know when the followed table's layout may have changed
// (ddl.go), and the statements that shape a transaction (savepoints, XA:
// txnstatement.go). sqlTokens splits such a statement into the words,
// names and literals those readers look at, as the server would: comments
// are dropped, except MySQL's executable comments (/*!50000 ... */, and
// MariaDB's /*M!100100 ... */), whose text the server runs and so the
// readers see; strings and quoted names are single tokens, so a name
// inside a string or a comment is never taken for one in the statement.

// tokenKind is what a token is.
type tokenKind uint8

const (
	tokWord   tokenKind = iota // a keyword or unquoted name: letters, digits, _, $, bytes >= 0x80
	tokQuoted                  // a `backquoted` name; text is the name, unescaped
	tokString                  // a 'string'; text is its content, unescaped
	tokDouble                  // a "double-quoted" string, or a name under ANSI_QUOTES
	tokHex                     // X'...' (or x'...'); text is the hex digits
	tokPunct                   // any other single byte: . , ; ( ) = ...
)

// sqlToken is one token of a statement.
type sqlToken struct {
	kind tokenKind
	text string
}

// isName reports whether t can be a name: a word, a quoted name, or a
// double-quoted text (a name under ANSI_QUOTES: the reader cannot tell the
// server's sql_mode, so it is taken as one where a name may stand).
func (t sqlToken) isName() bool {
	return t.kind == tokWord || t.kind == tokQuoted || t.kind == tokDouble
}

// is reports whether t is the word w, ignoring case.
func (t sqlToken) is(w string) bool { return t.kind == tokWord && equalFoldASCII(t.text, w) }

// isPunct reports whether t is the punctuation byte c.
func (t sqlToken) isPunct(c byte) bool { return t.kind == tokPunct && t.text[0] == c }

// sqlTokens splits q into tokens. backslashEscapes says whether a
// backslash escapes the next byte inside a string (the default sql_mode;
// NO_BACKSLASH_ESCAPES turns it off): a reader that cannot know the mode
// reads a statement both ways (see mayChangeLayout). Unterminated strings,
// names and comments end at the end of q; sqlTokens never fails.
func sqlTokens(q []byte, backslashEscapes bool) []sqlToken {
	var toks []sqlToken
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#':
			i = lineEnd(q, i)
		case c == '-' && i+1 < len(q) && q[i+1] == '-' && (i+2 == len(q) || q[i+2] <= ' '):
			i = lineEnd(q, i)
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			i = comment(q, i)
		case c == '*' && i+1 < len(q) && q[i+1] == '/':
			i += 2 // the end of an executable comment, whose text was read
		case c == '`':
			text, next := quoted(q, i, '`', false)
			toks = append(toks, sqlToken{tokQuoted, text})
			i = next
		case c == '\'':
			text, next := quoted(q, i, '\'', backslashEscapes)
			toks = append(toks, sqlToken{tokString, text})
			i = next
		case c == '"':
			text, next := quoted(q, i, '"', backslashEscapes)
			toks = append(toks, sqlToken{tokDouble, text})
			i = next
		case (c == 'x' || c == 'X') && i+1 < len(q) && q[i+1] == '\'':
			text, next := quoted(q, i+1, '\'', false)
			toks = append(toks, sqlToken{tokHex, text})
			i = next
		case wordByte(c):
			j := i
			for j < len(q) && wordByte(q[j]) {
				j++
			}
			toks = append(toks, sqlToken{tokWord, string(q[i:j])})
			i = j
		default:
			toks = append(toks, sqlToken{tokPunct, string(q[i : i+1])})
			i++
		}
	}
	return toks
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

// lineEnd returns the index after the line comment that starts at i.
func lineEnd(q []byte, i int) int {
	for i < len(q) && q[i] != '\n' {
		i++
	}
	return i
}

// comment returns where reading goes on after the comment that starts at
// i ("/*"): after its end, or, for an executable comment (/*!, /*M!),
// after its opening and version number, so that its text is read as the
// statement's (its closing "*/" is then stepped over as it comes).
// Optimizer hints (/*+ ... */) are comments like any other.
func comment(q []byte, i int) int {
	j := i + 2
	if j < len(q) && q[j] == 'M' && j+1 < len(q) && q[j+1] == '!' {
		j++
	}
	if j < len(q) && q[j] == '!' {
		j++
		for n := 0; n < 6 && j < len(q) && q[j] >= '0' && q[j] <= '9'; n++ {
			j++
		}
		return j
	}
	for j+1 < len(q) {
		if q[j] == '*' && q[j+1] == '/' {
			return j + 2
		}
		j++
	}
	return len(q)
}

// quoted reads the quoted text that starts at i (q[i] is the quote) and
// returns it unescaped with the index after its closing quote. A doubled
// quote stands for one; with escapes, a backslash takes the next byte as
// it is (the reader needs no \n or \t: only where the text ends).
func quoted(q []byte, i int, quote byte, escapes bool) (string, int) {
	var b []byte
	j := i + 1
	for j < len(q) {
		c := q[j]
		switch {
		case escapes && c == '\\' && j+1 < len(q):
			b = append(b, q[j+1])
			j += 2
			continue
		case c == quote && j+1 < len(q) && q[j+1] == quote:
			b = append(b, quote)
			j += 2
			continue
		case c == quote:
			return string(b), j + 1
		}
		b = append(b, c)
		j++
	}
	return string(b), j
}

// equalFoldASCII reports whether a and b are equal ignoring ASCII case.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
