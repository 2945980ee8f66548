package supervisor

import (
	"testing"
	"time"
)

func TestParseStatm(t *testing.T) {
	got, err := parseStatm("10 5 2 1 0 3 0\n", 4096)
	if err != nil {
		t.Fatal(err)
	}
	want := ProcessSample{Allocated: 10 * 4096, Resident: 5 * 4096, Shared: 2 * 4096, Processes: 1}
	if got != want {
		t.Fatalf("parseStatm = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "1 2", "1 x 3 4", "-1 2 3"} {
		if _, err := parseStatm(bad, 4096); err == nil {
			t.Errorf("parseStatm(%q) accepted a malformed line", bad)
		}
	}
}

func TestFailureHistoryCountsWithinWindow(t *testing.T) {
	t0 := time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)
	limits := Limits{Limit: 2, Window: 60}
	var h failureHistory
	steps := []struct {
		at       time.Duration
		exceeded bool
		count    int
	}{
		{0, false, 1},
		{10 * time.Second, false, 2},
		{20 * time.Second, true, 3},  // the third failure within 60 s needs a third restart
		{75 * time.Second, false, 2}, // 0 s and 10 s have expired; 20 s and 75 s remain
		{79 * time.Second, true, 3},  // at 80 s the failure at 20 s would have expired
	}
	for _, step := range steps {
		exceeded, count := h.record(t0.Add(step.at), limits)
		if exceeded != step.exceeded || count != step.count {
			t.Fatalf("failure at +%s: exceeded=%v count=%d, want %v %d", step.at, exceeded, count, step.exceeded, step.count)
		}
	}
}

func TestFailureHistoryUnlimitedAndNoExpiry(t *testing.T) {
	t0 := time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)
	var unlimited failureHistory
	for i := range 1000 {
		if exceeded, _ := unlimited.record(t0.Add(time.Duration(i)*time.Millisecond), Limits{Limit: 0, Window: 1}); exceeded {
			t.Fatalf("limit 0 must be unlimited, exceeded at failure %d", i+1)
		}
	}
	var forever failureHistory
	forever.record(t0, Limits{Limit: 1, Window: 0})
	if exceeded, count := forever.record(t0.Add(1000*time.Hour), Limits{Limit: 1, Window: 0}); !exceeded || count != 2 {
		t.Fatalf("window 0 must never expire failures: exceeded=%v count=%d", exceeded, count)
	}
	forever.reset()
	if exceeded, count := forever.record(t0, Limits{Limit: 1}); exceeded || count != 1 {
		t.Fatalf("after reset: exceeded=%v count=%d, want false 1", exceeded, count)
	}
}

func TestBackoffDoublesCapsAndResets(t *testing.T) {
	b := Backoff{}.withDefaults()
	var s backoffState
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := s.delay(b, 0); got != w {
			t.Fatalf("delay %d = %s, want %s", i+1, got, w)
		}
	}
	if got := s.delay(b, b.ResetAfter-time.Nanosecond); got != 10*time.Second {
		t.Fatalf("a short healthy period must not reset the back-off: got %s", got)
	}
	if got := s.delay(b, b.ResetAfter); got != 250*time.Millisecond {
		t.Fatalf("after %s in operation the back-off must start over: got %s", b.ResetAfter, got)
	}
	s.delay(b, 0)
	s.reset()
	if got := s.delay(b, 0); got != 250*time.Millisecond {
		t.Fatalf("after reset: %s, want 250ms", got)
	}
	odd := Backoff{Initial: time.Second, Max: time.Millisecond}.withDefaults()
	if odd.Max != time.Second {
		t.Fatalf("Max below Initial must be raised to Initial, got %s", odd.Max)
	}
}

// TestBackoffNeverOutwaitsTheInterval: the restart delay is capped at the
// supervisor's interval, however the back-off is configured, so that a
// failure is reported within two intervals.
func TestBackoffNeverOutwaitsTheInterval(t *testing.T) {
	s := New(Options{Interval: time.Second, Backoff: Backoff{Initial: 250 * time.Millisecond, Max: 10 * time.Second}})
	var st backoffState
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Second, time.Second}
	for i, w := range want {
		if got := st.delay(s.backoff, 0); got != w {
			t.Fatalf("delay %d = %s, want %s", i+1, got, w)
		}
	}
	short := New(Options{Interval: 100 * time.Millisecond})
	if short.backoff.Initial != 100*time.Millisecond || short.backoff.Max != 100*time.Millisecond {
		t.Fatalf("interval 100ms with the default back-off: %+v, want Initial and Max 100ms", short.backoff)
	}
	long := New(Options{Interval: time.Hour})
	if long.backoff != (Backoff{}).withDefaults() {
		t.Fatalf("an interval longer than the default back-off changed it: %+v", long.backoff)
	}
}

func TestSeriesSummary(t *testing.T) {
	var s stats
	for _, v := range []uint64{100, 300, 201} {
		s.add(ProcessSample{Resident: v, Allocated: 2 * v, Shared: v / 2, Processes: 1})
	}
	m := s.measurements(true)
	if m.Count != 3 || !m.Operational {
		t.Fatalf("count=%d operational=%v", m.Count, m.Operational)
	}
	if want := (Measurement{Min: 100, Max: 300, Average: 200, Last: 201}); m.Resident != want {
		t.Fatalf("resident = %+v, want %+v", m.Resident, want)
	}
	if want := (Measurement{Min: 1, Max: 1, Average: 1, Last: 1}); m.Process != want {
		t.Fatalf("process = %+v, want %+v", m.Process, want)
	}
	var empty stats
	if empty.measurements(false) != (Measurements{}) {
		t.Fatal("no samples must report zeros")
	}
}
