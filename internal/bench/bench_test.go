package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/bridgetest"
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

func TestMedianOfRates(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{5}, 5}, {[]float64{9, 1, 5}, 5}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %g, want %g", c.in, got, c.want)
		}
	}
}

func TestProofShares(t *testing.T) {
	p := &ProofResult{Answers: 200, Journal: 150, Exact: 149}
	if got, want := p.JournalShare(), 0.75; got != want {
		t.Errorf("JournalShare = %g, want %g", got, want)
	}
	if got, want := p.ExactShare(), 149.0/150; got != want {
		t.Errorf("ExactShare = %g, want %g", got, want)
	}
	// No journal answer claims nothing, so nothing is wrong; no answer at
	// all is no share labelled journal.
	if got := (&ProofResult{Answers: 3}).ExactShare(); got != 1 {
		t.Errorf("ExactShare with no journal answers = %g, want 1", got)
	}
	if got := (&ProofResult{}).JournalShare(); got != 0 {
		t.Errorf("JournalShare with no answers = %g, want 0", got)
	}
}

func TestPublishRates(t *testing.T) {
	p := &PublishResult{
		Catchup:            &CatchupResult{Transitions: 10_000},
		Plain:              []time.Duration{time.Second, 3 * time.Second},
		Journaled:          []time.Duration{2 * time.Second, 4 * time.Second},
		Published:          []time.Duration{10 * time.Second, 20 * time.Second},
		PublishedAtJournal: []int{1000, 4000},
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"PlainRate", p.PlainRate(), 10_000.0 / 2},          // median 2 s
		{"JournaledRate", p.JournaledRate(), 10_000.0 / 3},  // median 3 s
		{"PublishedRate", p.PublishedRate(), 10_000.0 / 15}, // median 15 s
		// 1000 in 2 s and 4000 in 4 s: 500/s and 1000/s, median 750/s.
		{"PublishedDuringRate", p.PublishedDuringRate(), 750},
	} {
		if c.got != c.want {
			t.Errorf("%s = %g, want %g", c.name, c.got, c.want)
		}
	}
}

func TestPublishPoolsRoundsByKind(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	p := &PublishResult{Live: []*LiveResult{
		{lags: ms(1, 2, 3)},
		{Publish: true, lags: ms(2, 3, 4), streamedLags: ms(5, 6)},
		{lags: ms(4, 5, 6)},
		{Publish: true, lags: ms(5, 6, 7), streamedLags: ms(7)},
	}}
	p.pool()
	if p.LagOff.N != 6 || p.LagOn.N != 6 || p.Streamed.N != 3 {
		t.Fatalf("pooled counts: off %d, on %d, streamed %d; want 6, 6, 3", p.LagOff.N, p.LagOn.N, p.Streamed.N)
	}
	if p.LagOff.Max != 6*time.Millisecond || p.LagOn.Max != 7*time.Millisecond || p.Streamed.Max != 7*time.Millisecond {
		t.Errorf("pooled maxima: %s, %s, %s", p.LagOff.Max, p.LagOn.Max, p.Streamed.Max)
	}
	// Nearest rank: the 3rd of six is the median, the 6th the p99.
	if got, want := p.AddedP50(), time.Millisecond; got != want {
		t.Errorf("AddedP50 = %s, want %s", got, want)
	}
	if got, want := p.AddedP99(), time.Millisecond; got != want {
		t.Errorf("AddedP99 = %s, want %s", got, want)
	}
}

func TestPublishNoiseAndCPU(t *testing.T) {
	p := &PublishResult{Live: []*LiveResult{
		{Lag: Latency{N: 100, P99: 9 * time.Millisecond}, Truth: 900, CPU: 10 * time.Millisecond},
		{Publish: true, Lag: Latency{N: 100, P99: 50 * time.Millisecond}, Truth: 900, CPU: 30 * time.Millisecond, NATSCPU: 5 * time.Millisecond},
		{Lag: Latency{N: 100, P99: 4 * time.Millisecond}, Truth: 400, CPU: 10 * time.Millisecond},
		{Lag: Latency{N: 100, P99: 6 * time.Millisecond}, Truth: 1900, CPU: 20 * time.Millisecond},
	}}
	// Only the rounds without a publisher: 9 - 4 ms.
	if got, want := p.P99Spread(), 5*time.Millisecond; got != want {
		t.Errorf("P99Spread = %s, want %s", got, want)
	}
	// Without: 10 us, 20 us and 10 us per event, median 10 us.
	if b, n := p.CPUPerEvent(false); b != 10*time.Microsecond || n != 0 {
		t.Errorf("CPUPerEvent(false) = %s, %s; want 10us, 0s", b, n)
	}
	if b, n := p.CPUPerEvent(true); b != 30*time.Microsecond || n != 5*time.Microsecond {
		t.Errorf("CPUPerEvent(true) = %s, %s; want 30us, 5us", b, n)
	}
}

func TestExplainMissesNamesTheMissingTransition(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1_800_000_000+int64(s), 0).UTC() }
	down := bridge.Event{BlogID: 7, OldStatus: bridge.StatusRunning, NewStatus: bridge.StatusDown, CreatedAt: at(1)}
	up := bridge.Event{BlogID: 7, OldStatus: bridge.StatusDown, NewStatus: bridge.StatusRunning, CreatedAt: at(2)}
	truth := []bridge.Event{down, up}
	reported := map[bridge.Event]time.Time{down: at(1), up: at(2).Add(300 * time.Millisecond)}
	exact := down
	exact.ID = 41
	answers := []bridgetest.Answer{
		// Exact, and not journal: neither is explained.
		{Blog: 7, Since: at(0), Until: at(2), Coverage: "journal", Events: []bridge.Event{exact}},
		{Blog: 7, Since: at(0), Until: at(3), Coverage: "mixed"},
		// Misses the transition at 2 s, reported 300 ms after it was asked.
		{Blog: 7, Since: at(0), Until: at(3), Coverage: "journal", Events: []bridge.Event{exact}, At: at(2).Add(100 * time.Millisecond), Took: 100 * time.Millisecond},
	}
	got := explainMisses(answers, truth, reported, 5)
	if len(got) != 1 {
		t.Fatalf("explained %d answers, want 1: %q", len(got), got)
	}
	if !strings.Contains(got[0], "missing down -> running") || !strings.Contains(got[0], "reported by the simulator 300ms after") {
		t.Errorf("explanation does not name the missing transition and its timing:\n%s", got[0])
	}
	if n := len(explainMisses(answers, truth, reported, 0)); n != 0 {
		t.Errorf("limit 0 explained %d answers", n)
	}
}
