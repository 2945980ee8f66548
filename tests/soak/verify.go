package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/journal"
)

// Verdict is the comparison of the journal with the ground truth.
type Verdict struct {
	// Blogs is the number of blogs compared over the whole run.
	Blogs int
	// Truth is the number of transitions the simulator committed.
	Truth int
	// Journaled is the number of journal events (id > 0) /events returned
	// over the whole run.
	Journaled int
	// JournalLastSeq is the journal's newest id, read from the file after
	// the bridge stopped: with no gap, exactly Truth.
	JournalLastSeq uint64
	// Missing are truth transitions outside recorded gaps that /events
	// did not return; Duplicated are journal events beyond the truth.
	Missing, Duplicated int
	// InGaps are truth transitions inside recorded gaps (not compared).
	InGaps int
	// Spans are the journal's coverage spans; Gaps lie between them.
	Spans, Gaps []bridge.Span
	// Windows counts /events windows inside coverage that answered
	// "journal" with exactly the truth: one per blog over the whole run,
	// plus random sub-windows. Unjudged counts the sub-windows that reach
	// past the coverage the stopped bridge left in the file (its last
	// span ends at the last whole second it vouched for).
	Windows, Unjudged int
	// During counts the /events answers given while the faults struck
	// (DuringJournal of them said journal, each held to the truth for its
	// window); Unanswered the requests that got no answer (a killed or
	// stopped bridge, a replica down).
	During, DuringJournal, Unanswered int
	// PerFault counts, for each fault in turn, the answers that arrived
	// from its start to the next fault's (during or right after it), and
	// how many of them said journal and were judged.
	PerFault []FaultJudged
	// Since and End bound the run's window: the start of coverage and the
	// moment the comparison began.
	Since, End time.Time
	// Problems lists every broken promise, empty when all held.
	Problems []string
}

func (v *Verdict) problem(format string, args ...any) {
	if len(v.Problems) < 50 {
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	} else if len(v.Problems) == 50 {
		v.Problems = append(v.Problems, "(more problems left out)")
	}
}

// answer is one /events response.
type answer struct {
	blog         uint64
	since, until time.Time
	events       []bridge.Event
	coverage     string
}

// eventKey identifies a transition for comparison.
type eventKey struct {
	at       int64
	old, new bridge.Status
}

func keyOf(e bridge.Event) eventKey { return eventKey{e.CreatedAt.Unix(), e.OldStatus, e.NewStatus} }

// ask collects the running bridge's answers: each site over the whole run,
// and subWindows random windows of random sites.
func ask(ctx context.Context, br *bridgetest.Process, sites []sim.Site, since, end time.Time, rng *rand.Rand, subWindows int) ([]answer, []answer, error) {
	var whole, sub []answer
	for _, s := range sites {
		events, cov, err := br.Events(ctx, s.BlogID, since, end)
		if err != nil {
			return nil, nil, err
		}
		whole = append(whole, answer{s.BlogID, since, end, events, cov})
	}
	span := end.Sub(since)
	for i := 0; i < subWindows; i++ {
		s := sites[rng.IntN(len(sites))]
		a := since.Add(time.Duration(rng.Int64N(int64(span))))
		b := a.Add(1 + time.Duration(rng.Int64N(int64(end.Sub(a)))))
		events, cov, err := br.Events(ctx, s.BlogID, a, b)
		if err != nil {
			return nil, nil, err
		}
		sub = append(sub, answer{s.BlogID, a, b, events, cov})
	}
	return whole, sub, nil
}

// readJournal reads the coverage spans and the newest id from the journal
// file once the bridge has stopped.
func readJournal(path string) ([]bridge.Span, uint64, error) {
	j, err := journal.Open(path, journal.Options{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer j.Close()
	return j.Spans(time.Time{}), j.LastID(), nil
}

// judge compares the answers with the truth.
func judge(truth []sim.Transition, whole, sub []answer, spans []bridge.Span, lastSeq uint64, since, end time.Time) Verdict {
	v := Verdict{Truth: len(truth), Spans: spans, JournalLastSeq: lastSeq, Blogs: len(whole), Since: since, End: end}
	for i := 1; i < len(spans); i++ {
		if spans[i].Start.After(spans[i-1].End) {
			v.Gaps = append(v.Gaps, bridge.Span{Start: spans[i-1].End, End: spans[i].Start})
		}
	}
	inGap := func(t time.Time) bool {
		for _, g := range v.Gaps {
			if g.Contains(t) {
				return true
			}
		}
		return false
	}
	byBlog := map[uint64][]sim.Transition{}
	for _, tr := range truth {
		byBlog[tr.BlogID] = append(byBlog[tr.BlogID], tr)
	}
	if len(spans) == 0 {
		v.problem("the journal has no coverage span")
		return v
	}
	ids := map[uint64]uint64{}
	for _, a := range whole {
		if spans[0].Start.After(a.since) {
			v.problem("coverage starts at %s, after the run began (%s)", spans[0].Start, a.since)
		}
		var want []bridge.Event
		for _, tr := range byBlog[a.blog] {
			if inGap(tr.CreatedAt) {
				v.InGaps++
				continue
			}
			want = append(want, tr.Event())
		}
		var got []bridge.Event
		for _, e := range a.events {
			if e.ID == 0 {
				if !inGap(e.CreatedAt) {
					v.problem("blog %d: synthesized event %+v inside coverage", a.blog, e)
				}
				continue
			}
			if other, seen := ids[e.ID]; seen {
				v.problem("id %d served for blog %d and blog %d", e.ID, other, a.blog)
			}
			ids[e.ID] = a.blog
			if e.ID > lastSeq {
				v.problem("blog %d: id %d beyond the journal's last id %d", a.blog, e.ID, lastSeq)
			}
			got = append(got, e)
		}
		v.Journaled += len(got)
		missing, dup := diff(want, got)
		v.Missing += missing
		v.Duplicated += dup
		if missing > 0 || dup > 0 {
			v.problem("blog %d: %d missing, %d duplicated (journal %d, truth %d)", a.blog, missing, dup, len(got), len(want))
		} else if !sameSequence(want, got) {
			v.problem("blog %d: events out of order: got %v, want %v", a.blog, got, want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID {
				v.problem("blog %d: ids do not increase: %d after %d", a.blog, got[i].ID, got[i-1].ID)
			}
		}
		switch {
		case len(v.Gaps) == 0 && a.coverage != string(bridge.CoverageJournal):
			v.problem("blog %d: the whole run, all inside coverage, answered %q", a.blog, a.coverage)
		case len(v.Gaps) == 0:
			v.Windows++
		}
	}
	if len(v.Gaps) == 0 && uint64(v.Journaled) != lastSeq {
		v.problem("the journal holds %d events, /events returned %d for the simulated blogs", lastSeq, v.Journaled)
	}
	for _, a := range sub {
		if len(bridge.Uncovered(spans, a.since, a.until)) > 0 {
			v.Unjudged++
			continue
		}
		if a.coverage != string(bridge.CoverageJournal) {
			v.problem("blog %d [%s, %s) lies inside coverage but answered %q", a.blog, a.since, a.until, a.coverage)
			continue
		}
		var want []bridge.Event
		for _, tr := range byBlog[a.blog] {
			if !tr.CreatedAt.Before(a.since) && tr.CreatedAt.Before(a.until) {
				want = append(want, tr.Event())
			}
		}
		if !sameSequence(want, a.events) {
			v.problem("blog %d [%s, %s): got %v, truth %v", a.blog, a.since, a.until, a.events, want)
			continue
		}
		v.Windows++
	}
	return v
}

// FaultJudged is what was judged during or right after one fault.
type FaultJudged struct {
	Fault Fault
	// At is when the fault began, from the start of the faults.
	At time.Duration
	// Answers arrived from the fault's start to the next one's; Journal of
	// them said journal and were judged.
	Answers, Journal int
}

// minJudgedPerFault is how many answers during or right after each fault
// must say journal and be judged: the driver asks that many about windows
// the journal vouched for before the fault, once the fault is over.
const minJudgedPerFault = 5

// judgeDuring holds the answers given during the faults to the invariant:
// every one that says journal equals the truth for its window, and each
// fault (the faults began at start) has at least minJudgedPerFault of
// them, so that none goes unjudged.
func (v *Verdict) judgeDuring(answers []bridgetest.Answer, unanswered int, truth []sim.Transition, faults []Outcome, start time.Time) {
	events := make([]bridge.Event, len(truth))
	for i, tr := range truth {
		events[i] = tr.Event()
	}
	// The first stretch holds the answers before the first fault.
	starts := []time.Time{{}}
	for _, o := range faults {
		starts = append(starts, start.Add(o.At))
	}
	var jv bridgetest.JournalVerdict
	for i, part := range bridgetest.SplitByArrival(answers, starts) {
		pv := bridgetest.JudgeJournalAnswers(part, events)
		jv.Answers += pv.Answers
		jv.Journal += pv.Journal
		jv.Problems = append(jv.Problems, pv.Problems...)
		if i == 0 {
			continue
		}
		o := faults[i-1]
		v.PerFault = append(v.PerFault, FaultJudged{Fault: o.Fault, At: o.At, Answers: pv.Answers, Journal: pv.Journal})
		if err := pv.Enough(minJudgedPerFault); err != nil {
			v.problem("during or right after %s at %.1fs: %v", o.Fault, o.At.Seconds(), err)
		}
	}
	v.During, v.DuringJournal, v.Unanswered = jv.Answers, jv.Journal, unanswered
	for _, p := range jv.Problems {
		v.problem("during the faults: %s", p)
	}
	if jv.Journal == 0 {
		v.problem("no answer during the faults said journal: the invariant was never put to the test")
	}
	if jv.Journal == jv.Answers {
		v.problem("every answer during the faults said journal: coverage never stopped at what the replica had applied")
	}
}

// diff counts the truth's transitions missing from got and got's events
// beyond the truth, as multisets.
func diff(want, got []bridge.Event) (missing, dup int) {
	count := map[eventKey]int{}
	for _, e := range want {
		count[keyOf(e)]++
	}
	for _, e := range got {
		count[keyOf(e)]--
	}
	keys := make([]eventKey, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].at < keys[j].at })
	for _, k := range keys {
		if n := count[k]; n > 0 {
			missing += n
		} else {
			dup -= n
		}
	}
	return missing, dup
}

func sameSequence(want, got []bridge.Event) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if keyOf(want[i]) != keyOf(got[i]) || want[i].BlogID != got[i].BlogID || got[i].ID == 0 {
			return false
		}
	}
	return true
}
