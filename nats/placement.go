package nats

import (
	"fmt"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// placement says where a transaction the journal holds no event of lies
// among the journal's events, by the journal's GTID history: every event
// carries the GTID set its commit began from (journal/sources.go), and
// those sets only grow, so the first event whose set holds the transaction
// is the first the source executed after it.
type placement struct {
	// before is the last event the source executed before the
	// transaction (0: none, the transaction precedes the journal); after
	// is the first it executed after it (0: none yet).
	before, after journal.SourcedEvent
}

// placeGTID places gtid, which the journal holds no event of, among the
// journal's events: a binary search over event ids, each step reading one
// event. Events without a GTID history (journaled before the journal
// recorded sources) count as before the transaction.
func placeGTID(j Journal, flavor, gtid string) (placement, error) {
	one, err := mysql.ParseGTIDSet(flavor, gtid)
	if err != nil {
		return placement{}, fmt.Errorf("the stream's transaction %q is not a %s GTID: %w", gtid, flavor, err)
	}
	event := func(id uint64) (journal.SourcedEvent, error) {
		es, err := j.EventsAfter(id-1, 1)
		if err != nil || len(es) == 0 {
			return journal.SourcedEvent{}, err
		}
		return es[0], nil
	}
	holds := func(e journal.SourcedEvent) (bool, error) {
		if e.BaseGTIDSet == "" {
			return false, nil
		}
		set, err := mysql.ParseGTIDSet(flavor, e.BaseGTIDSet)
		if err != nil {
			return false, fmt.Errorf("journal event %d's GTID set %q: %w", e.ID, e.BaseGTIDSet, err)
		}
		return set.Contain(one), nil
	}
	first, err := j.EventsAfter(0, 1) // the journal's first event: after retention, not 1
	if err != nil || len(first) == 0 {
		return placement{}, err
	}
	lo, hi := first[0].ID, j.LastID()
	var pl placement
	for lo <= hi { // the first event whose set holds gtid lies in lo..hi, or none does
		mid := lo + (hi-lo)/2
		e, err := event(mid)
		if err != nil {
			return placement{}, err
		}
		in, err := holds(e)
		if err != nil {
			return placement{}, err
		}
		if in {
			pl.after, hi = e, mid-1
		} else {
			pl.before, lo = e, mid+1
		}
	}
	if pl.after.ID != 0 && pl.after.ID > first[0].ID && pl.before.ID != pl.after.ID-1 {
		if pl.before, err = event(pl.after.ID - 1); err != nil {
			return placement{}, err
		}
	}
	return pl, nil
}

// String says where the transaction lies, for an operator.
func (pl placement) String() string {
	at := func(e journal.SourcedEvent) string {
		return fmt.Sprintf("event %d (created %s)", e.ID, e.CreatedAt.UTC().Format(time.RFC3339))
	}
	switch {
	case pl.before.ID == 0 && pl.after.ID == 0:
		return "in this journal, which holds no event yet"
	case pl.before.ID == 0:
		return "before this journal's first " + at(pl.after)
	case pl.after.ID == 0:
		return "after this journal's last " + at(pl.before)
	}
	return "between this journal's " + at(pl.before) + " and " + at(pl.after)
}
