package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// These tests check the measuring tools on tiny inputs; the suite itself
// runs only from cmd/jetmon-bench (make bench).

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 1000; i++ {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	s := Summarize(lat)
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{{"min", s.Min, time.Microsecond}, {"p50", s.P50, 500 * time.Microsecond}, {"p99", s.P99, 990 * time.Microsecond},
		{"p99.9", s.P999, 999 * time.Microsecond}, {"max", s.Max, 1000 * time.Microsecond}} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
	if got := Summarize(nil); got.N != 0 || got.P99 != 0 {
		t.Errorf("empty summary: %+v", got)
	}
	if m := median([]time.Duration{3, 1, 2}); m != 2 {
		t.Errorf("median = %d", m)
	}
}

// TestLoadGenerators runs both generators briefly against a local server
// and checks that the minimal client reads answers, headers and errors.
func TestLoadGenerators(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RawQuery, "fail") {
			http.Error(w, `{"error":"no"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Bridge-Coverage", "journal")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[{"id":1,"blog_id":2},{"id":3,"blog_id":2}]`))
	}))
	defer srv.Close()
	ctx := context.Background()
	paths := []string{"/events?a=1", "/events?b=2"}
	c := ClosedLoop(ctx, srv.URL, paths, 4, 0, 200*time.Millisecond)
	if c.Requests == 0 || c.Errors != 0 || c.EventsPerAnswer() != 2 || c.Coverage != "journal" {
		t.Fatalf("closed loop: %+v", c)
	}
	o := OpenLoop(ctx, srv.URL, paths, 200, 4, 0, 200*time.Millisecond)
	if o.Requests < 30 || o.Errors != 0 || o.Service.N != o.Requests {
		t.Fatalf("open loop: %+v", o)
	}
	f := ClosedLoop(ctx, srv.URL, []string{"/events?fail"}, 1, 0, 50*time.Millisecond)
	if f.Errors == 0 || f.Requests != 0 || !strings.Contains(f.FirstError, "HTTP 400") {
		t.Fatalf("errors not counted: %+v", f)
	}
}

func TestReportRendersEmptyAndPartialResults(t *testing.T) {
	r := &Results{Scale: 0.1, Machine: Machine{CPUs: 2}}
	if md := Markdown(r, nil); !strings.Contains(md, "## Machine") {
		t.Fatal("no machine section")
	}
	if s := Summary(r); !strings.Contains(s, "measure") {
		t.Fatal("no summary header")
	}
}
