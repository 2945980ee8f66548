package server

import (
	"fmt"
	"net/url"
	"strings"
)

// maxOriginBytes bounds an origin; real ones are a scheme and a host name.
const maxOriginBytes = 2048

// ParseAllowedOrigins reads the value of -allow-origin: a comma-separated
// list of origins ("https://dash.example.com", "http://127.0.0.1:8080"),
// "null" for pages opened from file://, or "*" for any origin. Blanks
// around entries are ignored. It returns the entries in canonical form
// (lower case), as Access.AllowOrigins takes them.
func ParseAllowedOrigins(list string) ([]string, error) {
	var origins []string
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		switch {
		case entry == "":
			continue
		case entry == "*":
			origins = append(origins, entry)
			continue
		}
		canonical, ok := canonicalOrigin(entry)
		if !ok {
			return nil, fmt.Errorf("%s: %q is not an origin: give scheme://host[:port] without a path "+
				"(e.g. https://dash.example.com or http://127.0.0.1:8080), null, or *", AllowOriginFlag, clip(entry))
		}
		origins = append(origins, canonical)
	}
	return origins, nil
}

// canonicalOrigin returns an origin as browsers serialize it (lower-case
// scheme and host), or false when s is not one: "null", or
// scheme://host[:port] in printable ASCII with nothing after the authority.
func canonicalOrigin(s string) (string, bool) {
	if s == "" || len(s) > maxOriginBytes {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "", false
		}
	}
	if s == "null" {
		return s, true
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Opaque != "" ||
		u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(s, "#") {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}
