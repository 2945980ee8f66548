package server

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// EventsQuery is a parsed /events request.
type EventsQuery struct {
	BlogID       uint64
	Since, Until time.Time
}

// ParseEventsQuery validates /events parameters: a positive decimal blog_id
// and RFC 3339 since < until, each given exactly once.
func ParseEventsQuery(q url.Values) (EventsQuery, error) {
	var eq EventsQuery
	raw, err := single(q, "blog_id")
	if err != nil {
		return eq, err
	}
	if raw[0] == '+' || raw[0] == '-' {
		return eq, fmt.Errorf("blog_id must be a positive integer, got %q", clip(raw))
	}
	eq.BlogID, err = strconv.ParseUint(raw, 10, 64)
	if err != nil || eq.BlogID == 0 {
		return eq, fmt.Errorf("blog_id must be a positive integer, got %q", clip(raw))
	}
	if eq.Since, err = parseTimeParam(q, "since"); err != nil {
		return eq, err
	}
	if eq.Until, err = parseTimeParam(q, "until"); err != nil {
		return eq, err
	}
	if !eq.Since.Before(eq.Until) {
		return eq, fmt.Errorf("since must be before until")
	}
	return eq, nil
}

// single returns the one non-empty value of a query parameter.
func single(q url.Values, name string) (string, error) {
	vs, ok := q[name]
	switch {
	case !ok || len(vs) == 0 || vs[0] == "":
		return "", fmt.Errorf("missing required parameter %s", name)
	case len(vs) > 1:
		return "", fmt.Errorf("parameter %s given %d times; give it once", name, len(vs))
	}
	return vs[0], nil
}

func parseTimeParam(q url.Values, name string) (time.Time, error) {
	raw, err := single(q, name)
	if err != nil {
		return time.Time{}, err
	}
	t, err := ParseTime(raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s must be an RFC 3339 time such as 2026-04-22T14:05:33Z, got %q", name, clip(raw))
	}
	return t, nil
}

// ParseTime accepts RFC 3339 with or without fractional seconds, in any
// offset, and returns it in UTC.
func ParseTime(s string) (time.Time, error) {
	// time.RFC3339Nano also accepts a missing fraction. The 'T' and upper-case
	// 'Z' checks keep out the looser forms time.Parse tolerates, and the ':'
	// a one-digit hour, which its layout's "15" takes too.
	if len(s) < 20 || s[10] != 'T' || s[13] != ':' {
		return time.Time{}, fmt.Errorf("not RFC 3339")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	// time.Parse also takes a comma before the fraction and offsets such as
	// +24:00 or +23:60, which RFC 3339 does not.
	if s[19] == ',' {
		return time.Time{}, fmt.Errorf("not RFC 3339")
	}
	if n := len(s); s[n-1] != 'Z' && (s[n-5:n-3] > "23" || s[n-2:] > "59") {
		return time.Time{}, fmt.Errorf("not RFC 3339")
	}
	// An offset can move 0000-01-01 or 9999-12-31 out of the years that UTC
	// RFC 3339 can write.
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, fmt.Errorf("out of range")
	}
	return t.UTC(), nil
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return s
}

// maxURLLength is monitor_url's column width.
const maxURLLength = 300

// ValidateMonitorURL accepts an absolute http or https URL with a host, no
// credentials and no fragment, in at most 300 ASCII characters.
func ValidateMonitorURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("url is required")
	}
	if len(raw) > maxURLLength {
		return fmt.Errorf("url is %d bytes long; monitor_url holds at most %d", len(raw), maxURLLength)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("url must be printable ASCII without spaces (punycode the host, percent-encode the rest)")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url does not parse: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("url must start with http:// or https://")
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("url has no host")
	case u.User != nil:
		return fmt.Errorf("url must not carry credentials")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("url must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("url has an invalid port")
		}
	}
	return nil
}
