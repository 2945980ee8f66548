package server

import "testing"

func TestMonitorBodyKeysMatchExactly(t *testing.T) {
	for _, body := range []string{
		`{"URL":"https://a.example"}`,
		`{"Url":"https://a.example"}`,
		`{"url":"https://a.example","url":"https://b.example"}`,
		`{"url":"https://a.example","x":1}`,
		`{"url":1}`,
		`["url"]`,
		`{"url":"https://a.example"}{}`,
		`{"url":"https://a.example"`,
	} {
		if u, err := ParseMonitorBody([]byte(body)); err == nil {
			t.Errorf("%s accepted as %q", body, u)
		}
	}
	if u, err := ParseMonitorBody([]byte(` {"url" : "https://a.example/x?y=1"} `)); err != nil || u != "https://a.example/x?y=1" {
		t.Errorf("valid body: %q %v", u, err)
	}
}
