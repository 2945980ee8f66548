package server

import (
	"errors"
	"sync/atomic"
)

// Token is the bearer token every route requires, replaceable while the
// bridge serves: the daemon re-reads -token-file on SIGHUP and calls Set.
// A request is checked against the token current when its headers arrive,
// so requests admitted before a Set (a WebSocket session, a slow /events)
// finish, and every request after it needs the new token.
type Token struct {
	check atomic.Pointer[tokenCheck] // nil: no token, auth disabled
}

// NewToken returns the token; "" disables auth. Whether the bridge needs a
// token is decided at start-up (with its listen address and write mode), so
// Set changes a token but never adds or removes one.
func NewToken(token string) *Token {
	t := &Token{}
	if token != "" {
		c := newTokenCheck(token)
		t.check.Store(&c)
	}
	return t
}

// ErrNoToken is Set's refusal of an empty token, or of any token when the
// bridge was started without one.
var ErrNoToken = errors.New("a token is changed while the bridge runs, never added or removed: restart the bridge to turn auth on or off")

// Set replaces the token; from its return on, only the new one is accepted.
func (t *Token) Set(token string) error {
	if token == "" || t.check.Load() == nil {
		return ErrNoToken
	}
	c := newTokenCheck(token)
	t.check.Store(&c)
	return nil
}

// current is the token's check, nil when auth is disabled.
func (t *Token) current() *tokenCheck {
	if t == nil {
		return nil
	}
	return t.check.Load()
}
