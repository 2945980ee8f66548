package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// AllowOriginFlag is the daemon's flag that lists the browser origins
// allowed without a token; messages name it so that an operator knows what
// to set.
const AllowOriginFlag = "-allow-origin"

// corsMaxAgeSeconds is how long a browser may cache a preflight's answer.
const corsMaxAgeSeconds = 600

// Access decides who may use the bridge's routes.
//
// The token: with Token set, every request needs it, as "Authorization:
// Bearer <token>" or, on the JSON-RPC paths and WebSocket upgrades, as
// ?token=<token> (what Thunder's clients send); both at once must agree.
//
// Browsers: a request that carries an Origin header comes from a web page.
// With Token set the token is the credential and any origin may call;
// without one, only pages of the bridge's own origin and of the origins in
// AllowOrigins may, so that a page the operator happens to open cannot
// steer the bridge's services. Cross-origin callers get CORS headers; their
// preflights (OPTIONS, which never carry credentials) are answered here,
// without the token, under the same rule.
type Access struct {
	// Token, when set, is the credential every request must carry; nil
	// (or a Token made from "") disables auth.
	Token *Token
	// AllowOrigins are canonical origins, as ParseAllowedOrigins returns
	// them: "scheme://host[:port]", "null" (file:// pages), or "*" (any).
	AllowOrigins []string
}

// Handler puts the access rules in front of next.
func (a Access) Handler(next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(a.AllowOrigins))
	for _, o := range a.AllowOrigins {
		allowed[o] = true
	}
	maxAge := strconv.Itoa(corsMaxAgeSeconds)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check := a.Token.current() // one reading per request: a rotation never splits it
		anyOrigin := check != nil || allowed["*"]
		h := w.Header()
		h.Add("Vary", "Origin")
		if values, sent := r.Header["Origin"]; sent {
			origin, refusal := admitOrigin(values, r.Host, anyOrigin, allowed)
			if refusal != "" {
				writeError(w, http.StatusForbidden, refusal)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "X-Bridge-Coverage")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", maxAge)
				writeNoContent(w)
				return
			}
		}
		queryTokenAllowed := takesQueryToken(r)
		if queryTokenAllowed && len(r.URL.RawQuery) > MaxJSONRPCQueryBytes {
			writeError(w, http.StatusRequestURITooLong, fmt.Sprintf(
				"the query string exceeds %d bytes: the JSON-RPC paths take nothing but ?token=", MaxJSONRPCQueryBytes))
			return
		}
		if check != nil {
			if refusal := check.authenticate(r, queryTokenAllowed); refusal != "" {
				h.Set("WWW-Authenticate", `Bearer realm="jetmon-bridge"`)
				writeError(w, http.StatusUnauthorized, refusal)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// admitOrigin checks the Origin header of a request to host and returns the
// origin to echo in Access-Control-Allow-Origin, or why it is refused.
func admitOrigin(values []string, host string, anyOrigin bool, allowed map[string]bool) (origin, refusal string) {
	if len(values) != 1 {
		return "", "a request carries at most one Origin header"
	}
	canonical, ok := canonicalOrigin(values[0])
	if !ok {
		return "", "the Origin header is not an origin: scheme://host[:port] or null"
	}
	if anyOrigin || allowed[canonical] || sameOrigin(canonical, host) {
		return values[0], ""
	}
	return "", fmt.Sprintf("origin %q may not use this bridge: without a token, web pages may call it only from its own "+
		"origin and from those %s lists (comma separated, * for any); start the bridge with %s %s, or with a token",
		canonical, AllowOriginFlag, AllowOriginFlag, canonical)
}

// sameOrigin tells an origin whose host and port are the ones the request
// was sent to, as gorilla/websocket's default check does.
func sameOrigin(canonical, host string) bool {
	_, authority, ok := strings.Cut(canonical, "://")
	return ok && strings.EqualFold(authority, host)
}
