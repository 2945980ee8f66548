package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/websocket"
)

// TokenQueryParameter is the query parameter that carries the token on the
// JSON-RPC paths, where Thunder's clients send it: ThunderJS appends
// ?token=<token> to its WebSocket URL, and no browser can set headers on a
// WebSocket. The read API takes the token from the Authorization header
// only, which keeps it out of the URLs proxies and browsers record.
const TokenQueryParameter = "token"

// MaxJSONRPCQueryBytes bounds the query string of a request on a JSON-RPC
// path, which carries nothing but the token; a longer one is answered 414.
const MaxJSONRPCQueryBytes = 8 << 10

// tokenCheck compares presented tokens with the configured one. Both sides
// are hashed before the constant-time comparison so that neither the
// token's content nor its length leaks through timing.
type tokenCheck struct {
	want [sha256.Size]byte
}

func newTokenCheck(token string) tokenCheck {
	return tokenCheck{want: sha256.Sum256([]byte(token))}
}

// matches tells whether got is the token.
func (c tokenCheck) matches(got string) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], c.want[:]) == 1
}

// authenticate returns "" when r carries the token, or why it is refused;
// queryTokenAllowed (takesQueryToken of r) lets ?token= carry it too. The
// reason never repeats what the client sent.
func (c tokenCheck) authenticate(r *http.Request, queryTokenAllowed bool) string {
	header, hasHeader := r.Header["Authorization"]
	headerOK := false
	if hasHeader {
		got, ok := bearer(header)
		headerOK = c.matches(got) && ok
	}
	if !queryTokenAllowed {
		if headerOK {
			return ""
		}
		return "unauthorized"
	}
	query, hasQuery, problem := queryToken(r.URL.RawQuery)
	if problem != "" {
		return problem
	}
	queryOK := false
	if hasQuery {
		// ThunderJS appends the token unencoded; a client that encodes it
		// sends its escaped form. Both readings are compared, always.
		raw := c.matches(query.raw)
		decoded := c.matches(query.decoded)
		queryOK = raw || decoded
	}
	switch {
	case hasHeader && hasQuery && headerOK != queryOK:
		return "the Authorization header and ?token= carry different tokens: send the token once"
	case headerOK || queryOK:
		return ""
	}
	return "unauthorized"
}

// bearer reads the token of the one "Authorization: Bearer <token>" header.
func bearer(header []string) (string, bool) {
	if len(header) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(header[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// takesQueryToken tells a request that may carry the token as ?token=: one
// on a JSON-RPC path, WebSocket upgrades included.
func takesQueryToken(r *http.Request) bool {
	return isJSONRPCPath(r.URL.Path) || websocket.IsWebSocketUpgrade(r)
}

// isJSONRPCPath tells the paths the Monitor interface is served on.
func isJSONRPCPath(path string) bool {
	return path == JSONRPCPath || path == MonitorJSONRPCPath
}

// presentedToken is the value of a token query parameter as sent and as
// query-unescaped (equal when it holds no escapes; decoded is empty when
// raw does not unescape).
type presentedToken struct {
	raw, decoded string
}

// queryToken finds the token parameter in a raw query string. It reads the
// raw query itself rather than url.ParseQuery because a token sent
// unencoded may hold characters ('+', '%') that unescaping would change.
// problem is set for a parameter given twice or empty.
func queryToken(rawQuery string) (tok presentedToken, found bool, problem string) {
	for part := range strings.SplitSeq(rawQuery, "&") {
		name, value, _ := strings.Cut(part, "=")
		if name != TokenQueryParameter {
			continue
		}
		if found {
			return presentedToken{}, false, "?token= is given more than once: give it once"
		}
		found = true
		tok.raw = value
		if decoded, err := url.QueryUnescape(value); err == nil {
			tok.decoded = decoded
		}
	}
	if found && tok.raw == "" {
		return presentedToken{}, false, "?token= is empty: give the bridge's token, or leave the parameter out and send Authorization: Bearer <token>"
	}
	return tok, found, ""
}
