package supervisor_test

import (
	"errors"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
)

// RestartLimitCrossed is true from StoppedRestarting until SetLimits
// re-arms the service, and false while a service fails and restarts.
func TestRestartLimitCrossedIsReported(t *testing.T) {
	flapping := supervisor.New(fastOptions())
	flapping.Add("Replica", newFailing(errors.New("flaps")), supervisor.Limits{})
	flaps := record(t, flapping)
	start(t, flapping)
	for range 3 {
		flaps.expect(t, "Replica", supervisor.Deactivate, "flaps")
	}
	if flapping.RestartLimitCrossed("Replica") || flapping.RestartLimitCrossed("Unknown") {
		t.Fatal("a service without limits, or an unknown one, is reported as left stopped")
	}

	s := supervisor.New(fastOptions())
	svc := newFailing(errors.New("boom"))
	s.Add("Primary", svc, supervisor.Limits{Limit: 1, Window: 0})
	rec := record(t, s)
	start(t, s)
	rec.expect(t, "Primary", supervisor.Deactivate, "boom")
	rec.expect(t, "Primary", supervisor.Deactivate, "boom")
	rec.expect(t, "Primary", supervisor.StoppedRestarting, "exceed the restart limit of 1")
	if !s.RestartLimitCrossed("Primary") {
		t.Fatal("a service left stopped by its restart limit is not reported")
	}
	svc.failing.Store(false)
	if err := s.SetLimits("Primary", supervisor.Limits{Limit: 5, Window: 30}); err != nil {
		t.Fatal(err)
	}
	if s.RestartLimitCrossed("Primary") {
		t.Fatal("a re-armed service is still reported as left stopped")
	}
}
