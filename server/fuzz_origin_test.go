package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/automattic/jetmon-bridge/server"
)

// FuzzParseAllowedOrigins: any -allow-origin value is accepted or refused
// with an error naming the flag, never a panic; what is accepted is
// canonical (parsing it again yields the same) and holds only origins.
func FuzzParseAllowedOrigins(f *testing.F) {
	for _, seed := range []string{
		"", "*", "null", "http://127.0.0.1:8080", " https://Dash.Example , http://[::1]:9000 ,",
		"http://a.example/path", "http://user@a.example", "a.example", "http://a.example:port",
		"http://a\x01.example", "http://\xc3\xa9.example", "javascript:alert(1)", "http://a.example?x", "http://a.example#",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, list string) {
		origins, err := server.ParseAllowedOrigins(list)
		if err != nil {
			if !strings.Contains(err.Error(), server.AllowOriginFlag) {
				t.Fatalf("error %q does not name %s", err, server.AllowOriginFlag)
			}
			return
		}
		for _, o := range origins {
			if o == "*" || o == "null" {
				continue
			}
			scheme, authority, ok := strings.Cut(o, "://")
			if !ok || scheme == "" || authority == "" || strings.ContainsAny(authority, "/?#@, ") {
				t.Fatalf("accepted %q as an origin", o)
			}
			if o != strings.ToLower(o) {
				t.Fatalf("accepted %q without lowering it", o)
			}
		}
		again, err := server.ParseAllowedOrigins(strings.Join(origins, ","))
		if err != nil || !slices.Equal(again, origins) {
			t.Fatalf("parsing %q again gave %q, %v", origins, again, err)
		}
	})
}
