package journal

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// Retention (docs/operations.md, "Retention") deletes what the journal
// holds from before a cutoff: the events, in both buckets, the sources
// records of commits all of whose events are gone, and the coverage
// before it. It runs as a sequence of small write transactions on the
// follower's own writer path (writeGate), so that neither the follower nor
// a reader ever waits for more than one of them:
//
//  1. One transaction moves the coverage start to the cutoff: spans that
//     end by it are deleted, the span it falls in starts there, and
//     meta/trim records the cutoff (trimmed.go). From then on the journal
//     vouches for nothing before the cutoff, and readers clip every window
//     at it, so a window reaching before it is answered mixed or
//     synthesized, and without the events before it.
//  2. Steps delete the oldest events, in (created_at, id) order, up to the
//     cutoff: each step takes at most TrimOptions.StepEvents events of at
//     most StepBlogs blogs, deletes them from the events bucket (whole runs,
//     and rewrites the run that holds the cutoff with the events at or after
//     it) and from each blog's runs (a prefix of each, as the events go in
//     the blogs' own order), records their ids in meta/trim, and deletes the
//     sources records none of whose events remain. Events at or after the
//     cutoff are never touched, nor those with ids from KeepFrom on (the
//     publisher's, not yet published).
//
// Readers need no lock: a reader's bbolt snapshot and the cutoff it clips
// at are read in that order, and step 2 begins only once step 1 has
// committed and published its cutoff, so a snapshot that lacks some events
// from before a cutoff is always clipped at that cutoff or a later one.
// Freed pages go to bbolt's freelist and are reused by later commits, so at
// a steady rate the file stops growing; `journal compact` returns free
// pages to the filesystem.

// TrimOptions bound and steer Trim.
type TrimOptions struct {
	// KeepFrom, when non-zero, keeps every event whose id is KeepFrom or
	// later, whatever its age: the NATS publisher's hold, the first id it
	// has not published.
	KeepFrom uint64
	// StepEvents and StepBlogs bound one step's transaction: the events it
	// deletes and the blogs whose runs it rewrites (each is a leaf page of
	// the blogs bucket or two). Zero takes DefaultTrimStepEvents and
	// DefaultTrimStepBlogs.
	StepEvents, StepBlogs int
	// OnStep, when set, is called after each committed step.
	OnStep func(TrimStep)
}

// Defaults of TrimOptions: a step costs about what an ordinary live commit
// of a few dozen blogs' events costs (docs/BENCHMARKS.md, part 8).
const (
	DefaultTrimStepEvents = 4096
	DefaultTrimStepBlogs  = 64
)

// TrimStep is what one step of Trim did.
type TrimStep struct {
	// Events is the events it deleted, Blogs the blogs they belonged to.
	Events, Blogs int
	// Records counts the records it deleted or wrote, in every bucket.
	Records int
	// Pages is the pages bbolt wrote to commit it.
	Pages int
	// Took is the step's time, its commit included.
	Took time.Duration
}

// TrimResult is what Trim did.
type TrimResult struct {
	// Cutoff is where coverage starts now (zero when never trimmed).
	Cutoff time.Time
	// Deleted counts the events deleted; Steps the transactions.
	Deleted uint64
	Steps   int
	// Done is set when no event before the cutoff is left. Otherwise
	// Pending says why: the hold (KeepFrom) or too many out-of-order ids
	// (maxTrimRanges); a later Trim continues.
	Done    bool
	Pending string
}

// ErrTrimFuture refuses a cutoff after the journal's present.
var ErrTrimFuture = errors.New("the cutoff is in the future")

// Trim deletes what the journal holds from before the cutoff before
// (rounded down to a whole second), in bounded steps, as the comment above
// says. A cutoff at or before the current one moves nothing but deletes
// what is still left before the current one (events held back, or
// committed late). It returns when nothing before the cutoff is left, or
// a hold keeps the rest, or ctx ends (then with ctx's error and what was
// done).
func (j *Journal) Trim(ctx context.Context, before time.Time, opts TrimOptions) (res TrimResult, err error) {
	if j.opts.ReadOnly {
		return res, fmt.Errorf("trim journal %s: opened read-only", j.path)
	}
	if opts.StepEvents <= 0 {
		opts.StepEvents = DefaultTrimStepEvents
	}
	if opts.StepBlogs <= 0 {
		opts.StepBlogs = DefaultTrimStepBlogs
	}
	cutoff := before.UTC().Truncate(time.Second)
	if now := j.now(); cutoff.After(now) {
		return res, fmt.Errorf("trim journal %s before %s: %w (now is %s): retention keeps the present", j.path, cutoff.Format(time.RFC3339), ErrTrimFuture, now.UTC().Format(time.RFC3339))
	}
	if cutoff.Unix() <= 0 {
		res.Cutoff, res.Done = j.retentionCutoff(), true
		return res, nil
	}
	if err := j.moveCutoff(cutoff); err != nil {
		return res, err
	}
	res.Cutoff = j.retentionCutoff()
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		step, more, pending, err := j.trimStep(opts)
		if err != nil {
			return res, err
		}
		if step.Events > 0 {
			res.Steps++
			res.Deleted += uint64(step.Events)
			if opts.OnStep != nil {
				opts.OnStep(step)
			}
		}
		if !more {
			res.Done, res.Pending = pending == "", pending
			return res, nil
		}
	}
}

func (j *Journal) retentionCutoff() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.trim.cutoffTime()
}

// SameSpan reports whether the spans that started at a and at b, as read at
// different times, are one span. Retention starts the span its cutoff falls
// in at the cutoff (cutSpans), so the start of the open span read before a
// trim names the span that now starts at the cutoff: the reconcile
// self-check and the follower's coverage restarts name the open span by
// its start, and must still find it after a trim. A start before the
// cutoff names whichever span starts at the cutoff, which is that span or,
// when it was dropped whole, the next one: taking that one's coverage back
// too is the safe side.
func (j *Journal) SameSpan(a, b time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.sameSpanLocked(a, b)
}

// sameSpanLocked is SameSpan; j.mu is held.
func (j *Journal) sameSpanLocked(a, b time.Time) bool {
	c := j.trim.cutoffTime()
	clamp := func(t time.Time) time.Time {
		if t.Before(c) {
			return c
		}
		return t
	}
	return clamp(a).Equal(clamp(b))
}

// moveCutoff is step 1: the cutoff recorded, the spans cut at it.
func (j *Journal) moveCutoff(cutoff time.Time) error {
	j.gate.lockTrim()
	defer j.gate.unlock()
	j.mu.Lock()
	t := j.trim
	spans := slices.Clone(j.spans)
	j.mu.Unlock()
	if cutoff.Unix() <= t.cutoff {
		return nil
	}
	t.cutoff = cutoff.Unix()
	err := j.db.Update(func(tx *bolt.Tx) error {
		var err error
		if spans, err = cutSpans(tx.Bucket(bucketSpans), spans, cutoff); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyTrim, t.encode())
	})
	if err != nil {
		return fmt.Errorf("trim journal %s: move the coverage start to %s: %w", j.path, cutoff.Format(time.RFC3339), err)
	}
	j.mu.Lock()
	j.trim, j.spans = t, spans
	j.cutoff.Store(t.cutoff)
	j.mu.Unlock()
	return nil
}

// cutSpans deletes the spans that end by the cutoff and starts the one it
// falls in at the cutoff. The open span stays, however old: the follower
// extends it, and it vouches for nothing before the cutoff.
func cutSpans(bucket *bolt.Bucket, spans []spanRecord, cutoff time.Time) ([]spanRecord, error) {
	out := spans[:0]
	for _, s := range spans {
		if !s.Start.Before(cutoff) {
			out = append(out, s)
			continue
		}
		k, _ := encodeSpan(s)
		if err := bucket.Delete(k); err != nil {
			return nil, err
		}
		if s.Closed && !s.End.After(cutoff) {
			continue
		}
		s.Start = cutoff
		if s.End.Before(cutoff) {
			s.End = cutoff
		}
		k, v := encodeSpan(s)
		if err := bucket.Put(k, v); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// trimStep is one step of 2. more is false when there is nothing left to
// delete now; pending then says why something before the cutoff is kept
// ("" when nothing is).
func (j *Journal) trimStep(opts TrimOptions) (step TrimStep, more bool, pending string, err error) {
	j.gate.lockTrim()
	defer j.gate.unlock()
	if testHookTrimStep != nil {
		testHookTrimStep()
	}
	start := time.Now()
	j.mu.Lock()
	t := j.trim
	j.mu.Unlock()
	var plan trimPlan
	err = j.db.Update(func(tx *bolt.Tx) error {
		var err error
		if plan, err = planTrim(tx, t, opts); err != nil {
			return err
		}
		if len(plan.events) == 0 {
			return errNothingToTrim // rolled back: no commit, no fsync
		}
		if err := plan.apply(tx); err != nil {
			return err
		}
		tx.OnCommit(func() { st := tx.Stats(); step.Pages = int(st.GetWrite()) })
		return nil
	})
	if errors.Is(err, errNothingToTrim) {
		err = nil
	}
	if err != nil {
		return step, false, "", fmt.Errorf("trim journal %s before %s: %w", j.path, t.cutoffTime().Format(time.RFC3339), err)
	}
	if len(plan.events) > 0 {
		j.mu.Lock()
		j.trim = plan.after
		j.mu.Unlock()
	}
	step.Events, step.Blogs, step.Records, step.Took = len(plan.events), plan.blogs, plan.records, time.Since(start)
	return step, plan.more, plan.pending, nil
}

// errNothingToTrim rolls back a step that found nothing to delete.
var errNothingToTrim = errors.New("nothing to trim")

// testHookTrimStep, when set by a test, runs as each step begins, inside
// the writer gate.
var testHookTrimStep func()

// trimPlan is one step's deletions, read from the file before any is made.
type trimPlan struct {
	events  []entry  // deleted, in (created_at, id) order
	runs    [][]byte // keys of the events bucket's runs deleted whole
	rest    []entry  // what stays of the run holding the first event kept
	restKey []byte   // that run's key, when rest is set
	after   trimmed  // meta/trim once applied
	blogs   int      // distinct blogs among the events
	records int      // records the step deletes or writes
	more    bool     // the step stopped at its bounds, not at what it keeps
	pending string   // why an event before the cutoff is kept, if one is
}

// planTrim reads the oldest events and chooses what the step deletes.
func planTrim(tx *bolt.Tx, t trimmed, opts TrimOptions) (trimPlan, error) {
	p := trimPlan{after: t}
	if t.cutoff == 0 {
		return p, nil
	}
	blogs := map[uint64]struct{}{}
	c := tx.Bucket(bucketEvents).Cursor()
	var es []entry
runs:
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var err error
		if es, err = eventRuns.decode(es[:0], k, v); err != nil {
			return p, err
		}
		n := 0
		for ; n < len(es); n++ {
			e := es[n]
			if e.created >= t.cutoff {
				break
			}
			if opts.KeepFrom > 0 && e.id >= opts.KeepFrom {
				p.pending = fmt.Sprintf("event %d (created %s) and later ones are kept until the NATS publisher has published them", e.id, e.event().CreatedAt.Format(time.RFC3339))
				break
			}
			if _, seen := blogs[e.blog]; len(p.events) == opts.StepEvents || !seen && len(blogs) == opts.StepBlogs {
				p.more = true
				break
			}
			blogs[e.blog] = struct{}{}
			p.events = append(p.events, e)
		}
		switch {
		case n == len(es):
			p.runs = append(p.runs, bytes.Clone(k))
		case n > 0:
			p.restKey, p.rest = bytes.Clone(k), slices.Clone(es[n:])
			break runs
		default:
			break runs
		}
	}
	if len(p.events) == 0 {
		return p, nil
	}
	ids := make([]uint64, len(p.events))
	for i, e := range p.events {
		ids[i] = e.id
	}
	slices.Sort(ids)
	after, ok := t.with(ids)
	if !ok {
		p.events, p.more = nil, false
		p.pending = fmt.Sprintf("more than %d stretches of event ids would be trimmed apart from one another (events stamped far out of commit order, such as by a clock gone ahead): the rest is deleted once the cutoff passes the events kept between them", maxTrimRanges)
		return p, nil
	}
	p.after, p.blogs = after, len(blogs)
	return p, nil
}

// apply makes the plan's deletions in tx.
func (p *trimPlan) apply(tx *bolt.Tx) error {
	events := tx.Bucket(bucketEvents)
	for _, k := range p.runs {
		if err := events.Delete(k); err != nil {
			return err
		}
	}
	p.records += len(p.runs)
	if p.restKey != nil {
		if err := events.Delete(p.restKey); err != nil {
			return err
		}
		k := eventRuns.appendKey(nil, p.rest[0])
		if err := events.Put(k, eventRuns.encode(nil, p.rest)); err != nil {
			return err
		}
		p.records += 2
	}
	if err := p.trimBlogs(tx.Bucket(bucketBlogs)); err != nil {
		return err
	}
	if err := p.trimSources(tx); err != nil {
		return err
	}
	p.records++
	return tx.Bucket(bucketMeta).Put(keyTrim, p.after.encode())
}

// trimBlogs deletes the events from each blog's runs: for each blog, the
// step's events are all its events before the first the step keeps, so a
// prefix of its runs, the last of which may keep its later events.
func (p *trimPlan) trimBlogs(bucket *bolt.Bucket) error {
	byBlog := slices.Clone(p.events)
	slices.SortFunc(byBlog, func(a, b entry) int {
		if c := cmp.Compare(a.blog, b.blog); c != 0 {
			return c
		}
		return cmpEntry(a, b)
	})
	var deletes [][]byte
	var es []entry
	for len(byBlog) > 0 {
		blog := byBlog[0].blog
		n := 1
		for n < len(byBlog) && byBlog[n].blog == blog {
			n++
		}
		gone := byBlog[:n]
		byBlog = byBlog[n:]
		deletes = deletes[:0]
		var restKey []byte
		var rest []entry
		matched := 0
		c := bucket.Cursor()
		for k, v := c.Seek(blogRuns.seekKey(nil, blog, 0)); blogRuns.sameGroup(k, blog) && matched < len(gone); k, v = c.Next() {
			var err error
			if es, err = blogRuns.decode(es[:0], k, v); err != nil {
				return err
			}
			i := 0
			for ; i < len(es) && matched < len(gone); i++ {
				if es[i] != gone[matched] {
					return fmt.Errorf("%w: blog %d's runs hold event %d at %s where the events bucket's oldest events hold event %d at %s",
						ErrCorrupt, blog, es[i].id, es[i].event().CreatedAt.Format(time.RFC3339), gone[matched].id, gone[matched].event().CreatedAt.Format(time.RFC3339))
				}
				matched++
			}
			if i == len(es) {
				deletes = append(deletes, bytes.Clone(k))
			} else {
				restKey, rest = bytes.Clone(k), slices.Clone(es[i:])
			}
		}
		if matched < len(gone) {
			return fmt.Errorf("%w: blog %d's runs lack event %d, which the events bucket holds", ErrCorrupt, blog, gone[matched].id)
		}
		for _, k := range deletes {
			if err := bucket.Delete(k); err != nil {
				return err
			}
		}
		p.records += len(deletes)
		if restKey != nil {
			if err := bucket.Delete(restKey); err != nil {
				return err
			}
			if err := bucket.Put(blogRuns.appendKey(nil, rest[0]), blogRuns.encode(nil, rest)); err != nil {
				return err
			}
			p.records += 2
		}
	}
	return nil
}

// trimSources deletes the sources records none of whose events remain.
// A record loses its last event in the step that deletes it, which is
// among the step's ids, so only the records holding those are looked at.
func (p *trimPlan) trimSources(tx *bolt.Tx) error {
	b := tx.Bucket(bucketSources)
	if b == nil {
		return nil
	}
	ids := make([]uint64, len(p.events))
	for i, e := range p.events {
		ids[i] = e.id
	}
	slices.Sort(ids)
	var deletes [][]byte
	c := b.Cursor()
	for i := 0; i < len(ids); {
		// The record with the largest first id at or before ids[i].
		k, v := seekFloor(c, u64(ids[i]), func([]byte) bool { return true })
		if k == nil {
			break
		}
		r, _, err := decodeSourceHeader(k, v)
		if err != nil {
			return err
		}
		last := r.first + r.count - 1
		if r.first > ids[i] || last < ids[i] {
			// No record holds ids[i] (an event committed before the
			// journal recorded sources): go on from the next record.
			if r.first <= ids[i] {
				if k, v = c.Next(); k == nil {
					break
				}
				if r, _, err = decodeSourceHeader(k, v); err != nil {
					return err
				}
			}
			for i < len(ids) && ids[i] < r.first {
				i++
			}
			continue
		}
		if p.after.covers(r.first, last) {
			deletes = append(deletes, bytes.Clone(k))
		}
		for i < len(ids) && ids[i] <= last {
			i++
		}
	}
	for _, k := range deletes {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	p.records += len(deletes)
	return nil
}

// spanWithin is the part of s at or after the cutoff (zero: all of it);
// false when none of it is.
func spanWithin(s bridge.Span, cutoff time.Time) (bridge.Span, bool) {
	if !s.Start.Before(cutoff) {
		return s, true
	}
	s.Start = cutoff
	return s, s.End.After(cutoff)
}
