package supervisor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
)

func TestActivateWhenReady(t *testing.T) {
	s := supervisor.New(fastOptions())
	svc := newSteerable()
	s.Add("Replica", svc, supervisor.Limits{Limit: 3, Window: 60})
	rec := record(t, s)
	if s.Operational("Replica") {
		t.Fatal("operational before Run")
	}
	start(t, s)
	rec.expect(t, "Replica", supervisor.Activate, "in operation")
	if !s.Operational("Replica") {
		t.Fatal("not operational after Activate")
	}
	entries := s.Status("Replica")
	if len(entries) != 1 || entries[0].Observable != "Replica" || !entries[0].Measurements.Operational ||
		entries[0].Restart != (supervisor.Limits{Limit: 3, Window: 60}) {
		t.Fatalf("status = %+v", entries)
	}
	if s.Operational("Unknown") {
		t.Fatal("an unknown callsign must not be operational")
	}
}

func TestFailureDeactivatesThenRestarts(t *testing.T) {
	s := supervisor.New(fastOptions())
	svc := newSteerable()
	s.Add("Replica", svc, supervisor.Limits{})
	rec := record(t, s)
	start(t, s)
	rec.expect(t, "Replica", supervisor.Activate, "in operation")

	svc.fail <- errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")
	rec.expect(t, "Replica", supervisor.Deactivate, "connection refused")
	n := rec.expect(t, "Replica", supervisor.Activate, "back in operation after: dial tcp")
	if !s.Operational("Replica") {
		t.Fatalf("not operational after %+v", n)
	}
	if got := svc.runs.Load(); got != 2 {
		t.Fatalf("Run called %d times, want 2", got)
	}
	// The next recovery reports only its own failure.
	svc.fail <- errors.New("second failure")
	rec.expect(t, "Replica", supervisor.Deactivate, "second failure")
	if n := rec.expect(t, "Replica", supervisor.Activate, "second failure"); n.Reason != "service is back in operation after: second failure" {
		t.Fatalf("reason %q", n.Reason)
	}
}

func TestRestartLimitLeavesServiceStopped(t *testing.T) {
	s := supervisor.New(fastOptions())
	svc := newFailing(errors.New("replica refuses connections"))
	s.Add("Replica", svc, supervisor.Limits{Limit: 2, Window: 60})
	rec := record(t, s)
	stop := start(t, s)
	// Limit 2: the first two failures are restarted, the third is not.
	for range 3 {
		rec.expect(t, "Replica", supervisor.Deactivate, "replica refuses connections")
	}
	n := rec.expect(t, "Replica", supervisor.StoppedRestarting, "3 failures within 60 seconds exceed the restart limit of 2")
	if want := "last failure: replica refuses connections"; !strings.Contains(n.Reason, want) {
		t.Fatalf("reason %q lacks %q", n.Reason, want)
	}
	stop()
	if got := svc.runs.Load(); got != 3 {
		t.Fatalf("Run called %d times, want 3 (two restarts)", got)
	}
	if s.Operational("Replica") {
		t.Fatal("a stopped service is operational")
	}
	rec.expectNone(t)
}

func TestSetLimitsRearmsStoppedService(t *testing.T) {
	s := supervisor.New(fastOptions())
	svc := newFailing(errors.New("boom"))
	s.Add("Primary", svc, supervisor.Limits{Limit: 1, Window: 0})
	rec := record(t, s)
	start(t, s)
	rec.expect(t, "Primary", supervisor.Deactivate, "boom")
	rec.expect(t, "Primary", supervisor.Deactivate, "boom")
	rec.expect(t, "Primary", supervisor.StoppedRestarting, "since the restart limits were set exceed the restart limit of 1")

	svc.failing.Store(false)
	if err := s.SetLimits("Primary", supervisor.Limits{Limit: 5, Window: 30}); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "Primary", supervisor.Activate, "back in operation after: boom")
	if got := s.Status("Primary")[0].Restart; got != (supervisor.Limits{Limit: 5, Window: 30}) {
		t.Fatalf("restart = %+v", got)
	}
	if got := svc.runs.Load(); got != 3 {
		t.Fatalf("Run called %d times, want 3", got)
	}
}

func TestSetLimitsForgetsPastFailures(t *testing.T) {
	s := supervisor.New(fastOptions())
	svc := newSteerable()
	s.Add("Journal", svc, supervisor.Limits{Limit: 0})
	rec := record(t, s)
	start(t, s)
	rec.expect(t, "Journal", supervisor.Activate, "")
	for i := range 3 {
		svc.fail <- fmt.Errorf("failure %d", i)
		rec.expect(t, "Journal", supervisor.Deactivate, fmt.Sprintf("failure %d", i))
		rec.expect(t, "Journal", supervisor.Activate, "")
	}
	// Three failures happened within the window, but the new limits count
	// from now: one failure is still restarted.
	if err := s.SetLimits("Journal", supervisor.Limits{Limit: 1, Window: 60}); err != nil {
		t.Fatal(err)
	}
	svc.fail <- errors.New("after new limits")
	rec.expect(t, "Journal", supervisor.Deactivate, "after new limits")
	rec.expect(t, "Journal", supervisor.Activate, "after new limits")
	svc.fail <- errors.New("second after new limits")
	rec.expect(t, "Journal", supervisor.Deactivate, "second after new limits")
	rec.expect(t, "Journal", supervisor.StoppedRestarting, "2 failures within 60 seconds")
}

func TestSetLimitsErrors(t *testing.T) {
	s := supervisor.New(fastOptions())
	s.Add("Replica", newSteerable(), supervisor.Limits{})
	if err := s.SetLimits("Nope", supervisor.Limits{Limit: 1, Window: 1}); !errors.Is(err, supervisor.ErrUnknownCallsign) {
		t.Fatalf("unknown callsign: %v", err)
	}
	for _, bad := range []supervisor.Limits{{Limit: -1}, {Window: -1}, {Window: supervisor.MaxWindowSeconds + 1}} {
		if err := s.SetLimits("Replica", bad); !errors.Is(err, supervisor.ErrInvalidLimits) {
			t.Fatalf("limits %+v: %v", bad, err)
		}
	}
	if got := s.Status("Replica")[0].Restart; got != (supervisor.Limits{}) {
		t.Fatalf("invalid limits were applied: %+v", got)
	}
	// Limits set before Run apply when it starts.
	if err := s.SetLimits("Replica", supervisor.Limits{Limit: 4, Window: 9}); err != nil {
		t.Fatal(err)
	}
	if got := s.Status("")[0].Restart; got != (supervisor.Limits{Limit: 4, Window: 9}) {
		t.Fatalf("restart = %+v", got)
	}
}

func TestUnlimitedRestarts(t *testing.T) {
	s := supervisor.New(fastOptions())
	var runs atomic.Int64
	s.Add("BinlogFollower", supervisor.ServiceFunc(func(ctx context.Context, ready func()) error {
		if runs.Add(1) <= 25 {
			return errors.New("binlog stream broke")
		}
		ready()
		<-ctx.Done()
		return nil
	}), supervisor.Limits{Limit: 0, Window: 60})
	rec := record(t, s)
	start(t, s)
	for range 25 {
		rec.expect(t, "BinlogFollower", supervisor.Deactivate, "binlog stream broke")
	}
	rec.expect(t, "BinlogFollower", supervisor.Activate, "back in operation")
}

func TestReturningNilEarlyIsAFailure(t *testing.T) {
	s := supervisor.New(fastOptions())
	var runs atomic.Int64
	s.Add("Journal", supervisor.ServiceFunc(func(ctx context.Context, ready func()) error {
		ready()
		if runs.Add(1) == 1 {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}), supervisor.Limits{})
	rec := record(t, s)
	start(t, s)
	rec.expect(t, "Journal", supervisor.Activate, "in operation")
	rec.expect(t, "Journal", supervisor.Deactivate, "returned before it was asked to stop")
	rec.expect(t, "Journal", supervisor.Activate, "back in operation")
}

func TestStaleReadyIsIgnored(t *testing.T) {
	s := supervisor.New(fastOptions())
	var mu sync.Mutex
	var readies []func()
	s.Add("Replica", supervisor.ServiceFunc(func(ctx context.Context, ready func()) error {
		mu.Lock()
		readies = append(readies, ready)
		mu.Unlock()
		return errors.New("fails before it is ready")
	}), supervisor.Limits{Limit: 1})
	rec := record(t, s)
	stop := start(t, s)
	rec.expect(t, "Replica", supervisor.Deactivate, "fails before")
	rec.expect(t, "Replica", supervisor.Deactivate, "fails before")
	rec.expect(t, "Replica", supervisor.StoppedRestarting, "")
	mu.Lock()
	for _, ready := range readies {
		ready() // every attempt has returned: none of these may count
	}
	mu.Unlock()
	if s.Operational("Replica") {
		t.Fatal("a ready call after Run returned made the service operational")
	}
	stop()
	rec.expectNone(t)
}

func TestShutdownStopsEveryService(t *testing.T) {
	s := supervisor.New(fastOptions())
	a, b := newSteerable(), newSteerable()
	s.Add("Replica", a, supervisor.Limits{})
	s.Add("Journal", b, supervisor.Limits{})
	rec := record(t, s)
	stop := start(t, s)
	got := []string{rec.next(t).Callsign, rec.next(t).Callsign}
	sort.Strings(got)
	if !reflect.DeepEqual(got, []string{"Journal", "Replica"}) {
		t.Fatalf("activated %v", got)
	}
	stop()
	for _, svc := range []*steerableService{a, b} {
		select {
		case err := <-svc.ended:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("service saw %v, want its context cancelled", err)
			}
		default:
			t.Fatal("Run returned while a service was still running")
		}
	}
	if s.Operational("Replica") || s.Operational("Journal") {
		t.Fatal("services are operational after shutdown")
	}
	rec.expectNone(t) // shutting down is not a failure
}

func TestRunTwiceAndRunAgain(t *testing.T) {
	s := supervisor.New(fastOptions())
	svc := newSteerable()
	s.Add("Replica", svc, supervisor.Limits{})
	rec := record(t, s)
	stop := start(t, s)
	rec.expect(t, "Replica", supervisor.Activate, "")
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("a second concurrent Run must fail")
	}
	stop()
	start(t, s)
	rec.expect(t, "Replica", supervisor.Activate, "")
	if got := svc.runs.Load(); got != 2 {
		t.Fatalf("runs = %d, want 2", got)
	}
}

func TestAddWhileRunning(t *testing.T) {
	s := supervisor.New(fastOptions())
	rec := record(t, s)
	start(t, s)
	s.Add("Primary", newSteerable(), supervisor.Limits{})
	rec.expect(t, "Primary", supervisor.Activate, "in operation")
}

func TestAddRejectsProgrammingErrors(t *testing.T) {
	s := supervisor.New(fastOptions())
	s.Add("Replica", newSteerable(), supervisor.Limits{})
	for name, add := range map[string]func(){
		"empty callsign":     func() { s.Add("", newSteerable(), supervisor.Limits{}) },
		"index separator":    func() { s.Add("a@b", newSteerable(), supervisor.Limits{}) },
		"duplicate callsign": func() { s.Add("Replica", newSteerable(), supervisor.Limits{}) },
		"nil service":        func() { s.Add("Journal", nil, supervisor.Limits{}) },
		"negative limit":     func() { s.Add("Journal", newSteerable(), supervisor.Limits{Limit: -1}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Add did not panic", name)
				}
			}()
			add()
		}()
	}
	if got := len(s.Status("")); got != 1 {
		t.Fatalf("%d services after rejected Adds, want 1", got)
	}
}

func TestSubscribeCancel(t *testing.T) {
	s := supervisor.New(fastOptions())
	svc := newSteerable()
	s.Add("Replica", svc, supervisor.Limits{})
	var cancelledCalls atomic.Int64
	cancel := s.Subscribe(func(supervisor.Notification) { cancelledCalls.Add(1) })
	rec := record(t, s)
	start(t, s)
	rec.expect(t, "Replica", supervisor.Activate, "")
	cancel()
	before := cancelledCalls.Load()
	svc.fail <- errors.New("boom")
	rec.expect(t, "Replica", supervisor.Deactivate, "boom")
	rec.expect(t, "Replica", supervisor.Activate, "")
	if got := cancelledCalls.Load(); got != before {
		t.Fatalf("a cancelled subscriber was called %d more times", got-before)
	}
	cancel() // cancelling twice is harmless
}

// sequenceSampler returns the given samples, then fails, so that a test
// knows exactly which samples were taken.
func sequenceSampler(samples ...supervisor.ProcessSample) func() (supervisor.ProcessSample, error) {
	var mu sync.Mutex
	return func() (supervisor.ProcessSample, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(samples) == 0 {
			return supervisor.ProcessSample{}, errors.New("no more samples")
		}
		next := samples[0]
		samples = samples[1:]
		return next, nil
	}
}

func TestMeasurementsAndResetStats(t *testing.T) {
	opts := fastOptions()
	opts.Interval = time.Millisecond
	opts.Sample = sequenceSampler(
		supervisor.ProcessSample{Resident: 100, Allocated: 1000, Shared: 10, Processes: 1},
		supervisor.ProcessSample{Resident: 300, Allocated: 3000, Shared: 30, Processes: 1},
		supervisor.ProcessSample{Resident: 200, Allocated: 2001, Shared: 20, Processes: 1},
	)
	s := supervisor.New(opts)
	s.Add("Replica", newSteerable(), supervisor.Limits{Limit: 3, Window: 60})
	s.Add("Journal", newSteerable(), supervisor.Limits{})
	rec := record(t, s)
	start(t, s)
	rec.next(t)
	rec.next(t)
	eventually(t, "three samples", func() bool {
		all := s.Status("")
		return all[0].Measurements.Count == 3 && all[1].Measurements.Count == 3
	})
	all := s.Status("")
	if all[0].Observable != "Replica" || all[1].Observable != "Journal" {
		t.Fatalf("status order %s, %s; want the order of Add", all[0].Observable, all[1].Observable)
	}
	want := supervisor.Measurements{
		Resident:    supervisor.Measurement{Min: 100, Max: 300, Average: 200, Last: 200},
		Allocated:   supervisor.Measurement{Min: 1000, Max: 3000, Average: 2000, Last: 2001},
		Shared:      supervisor.Measurement{Min: 10, Max: 30, Average: 20, Last: 20},
		Process:     supervisor.Measurement{Min: 1, Max: 1, Average: 1, Last: 1},
		Operational: true,
		Count:       3,
	}
	if all[0].Measurements != want {
		t.Fatalf("measurements = %+v\nwant %+v", all[0].Measurements, want)
	}

	before, ok := s.ResetStats("Replica")
	if !ok || before.Measurements != want || before.Observable != "Replica" {
		t.Fatalf("ResetStats = %+v, %v", before, ok)
	}
	after := s.Status("Replica")[0]
	if after.Measurements != (supervisor.Measurements{Operational: true}) {
		t.Fatalf("after reset: %+v", after.Measurements)
	}
	if s.Status("Journal")[0].Measurements.Count != 3 {
		t.Fatal("resetting one service reset another")
	}
	if _, ok := s.ResetStats("Nope"); ok {
		t.Fatal("ResetStats of an unknown callsign reported ok")
	}
	if got := s.Status("Nope"); got == nil || len(got) != 0 {
		t.Fatalf("Status of an unknown callsign = %#v, want an empty slice", got)
	}
}

func TestSamplesThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/statm"); err != nil {
		t.Skip("no /proc/self/statm on this system")
	}
	p, err := supervisor.ReadProcessSample()
	if err != nil {
		t.Fatal(err)
	}
	page := uint64(os.Getpagesize())
	if p.Resident == 0 || p.Allocated < p.Resident || p.Shared > p.Resident || p.Processes != 1 ||
		p.Resident%page != 0 || p.Allocated%page != 0 || p.Shared%page != 0 {
		t.Fatalf("implausible sample %+v (page size %d)", p, page)
	}

	opts := fastOptions()
	opts.Interval = time.Millisecond
	opts.Sample = nil // the real /proc/self/statm
	s := supervisor.New(opts)
	s.Add("Replica", newSteerable(), supervisor.Limits{})
	start(t, s)
	eventually(t, "a few samples", func() bool { return s.Status("Replica")[0].Measurements.Count >= 3 })
	m := s.Status("Replica")[0].Measurements
	for name, x := range map[string]supervisor.Measurement{"resident": m.Resident, "allocated": m.Allocated, "shared": m.Shared} {
		if x.Min > x.Average || x.Average > x.Max || x.Last < x.Min || x.Last > x.Max || x.Max == 0 && name != "shared" {
			t.Fatalf("%s: inconsistent %+v", name, x)
		}
	}
	if m.Process != (supervisor.Measurement{Min: 1, Max: 1, Average: 1, Last: 1}) {
		t.Fatalf("process = %+v", m.Process)
	}
}

func TestEntryJSONIsThunders(t *testing.T) {
	raw, err := json.Marshal(supervisor.Entry{Observable: "Replica", Restart: supervisor.Limits{Limit: 3, Window: 60}})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	m := got["measurements"].(map[string]any)
	for _, name := range []string{"resident", "allocated", "shared", "process"} {
		fig := m[name].(map[string]any)
		if len(fig) != 4 || fig["min"] == nil || fig["max"] == nil || fig["average"] == nil || fig["last"] == nil {
			t.Fatalf("%s = %v", name, fig)
		}
	}
	if len(m) != 6 || m["operational"] != false || m["count"] != 0.0 {
		t.Fatalf("measurements = %v", m)
	}
	if len(got) != 3 || got["observable"] != "Replica" ||
		!reflect.DeepEqual(got["restart"], map[string]any{"limit": 3.0, "window": 60.0}) {
		t.Fatalf("entry = %s", raw)
	}
}
