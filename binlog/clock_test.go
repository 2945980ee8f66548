package binlog

import (
	"fmt"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestCoverageInTheServersClock runs a primary -> replica chain whose
// servers' clocks are ten seconds ahead of the bridge host's, and one
// whose clocks are ten seconds behind (libfaketime moves MariaDB's clock,
// not the test's), and follows the primary (self proof) and the replica
// (replica-status proof). Transitions are committed just before the
// follower starts, while it follows, and while it is stopped; windows are
// asked for in the servers' time, ending in the past and reaching past the
// question. Every answer that says journal must equal the primary's truth,
// and answers reach journal again after every catch-up: the host's clock
// decides no answer.
func TestCoverageInTheServersClock(t *testing.T) {
	for _, offset := range []time.Duration{10 * time.Second, -10 * time.Second} {
		t.Run(fmt.Sprintf("servers at %+ds", int(offset.Seconds())), func(t *testing.T) {
			c := newChain(t, testdb.TopologyOptions{ClockOffset: offset}, 3)
			for _, name := range []string{"self", "replica-status"} {
				t.Run(name, func(t *testing.T) {
					followed := c.db
					if name == "replica-status" {
						followed = c.onReplica(c.tp.Replica())
					}
					r := newRig(t, followed)
					r.waitLimit, r.poll = 2*time.Second, 100*time.Millisecond
					var answers []answer
					// Transitions right before the follower starts belong
					// before its span.
					c.flips(1, 2, 3)
					c.waitCaughtUp()
					r.start()
					defer r.stop()
					if got := r.follower.ProofName(); got != name {
						t.Fatalf("coverage proof %q, want %q", got, name)
					}
					spanStart := r.journal.Spans(time.Time{})[0].Start
					if now := c.serverNow(); spanStart.Before(now.Add(-time.Second)) || spanStart.After(now.Add(2*time.Second)) {
						t.Errorf("the span starts at %s, the servers' clock reads %s: want the next whole second of the servers' clock", spanStart, now)
					}
					since := spanStart.Add(-time.Minute)
					askAll := func(phase string) {
						now := c.serverNow()
						for blog := uint64(1); blog <= 3; blog++ {
							for _, until := range []time.Time{now.Add(-time.Second), now, now.Add(3 * time.Second)} {
								answers = append(answers, c.ask(r.journal, phase, blog, since, until))
								answers = append(answers, c.ask(r.journal, phase, blog, spanStart, until))
							}
						}
					}
					askAll("started")
					c.waitServerPast(spanStart)
					last := c.flips(1, 2, 3)
					askAll("following")
					for blog := uint64(1); blog <= 3; blog++ {
						c.askUntilCovered(r.journal, &answers, "following, caught up", blog, spanStart, last.Add(time.Second))
					}
					// Stopped: the journal keeps what it proved, and nothing
					// committed since.
					r.halt()
					last = c.flips(1, 2, 3)
					c.waitCaughtUp()
					askAll("stopped")
					c.waitServerPast(last.Add(2 * time.Second))
					askAll("stopped")
					r.run()
					for blog := uint64(1); blog <= 3; blog++ {
						c.askUntilCovered(r.journal, &answers, "restarted, caught up", blog, spanStart, last.Add(time.Second))
					}
					askAll("restarted")
					n := c.judge(answers)
					if n["following, caught up"] != 3 || n["restarted, caught up"] != 3 {
						t.Errorf("covered answers per phase %v", n)
					}
					t.Logf("covered answers per phase %v", n)
				})
			}
		})
	}
}
