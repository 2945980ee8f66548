package bench

import (
	"fmt"
	"time"
)

// The suite's goals, stated once. The summary (Rows) judges each result by
// them and writes their text into its goal column; BENCHMARKS.md, the
// results file (docs/bench-results.json) and, from that, the README's table
// show that text. A goal changed here reaches the documents with the next
// make bench, which writes both files.
const (
	// goalCatchupRatio: a bulk catch-up at least as fast as go-mysql
	// decoding the same binlog alone (wall rate), with less CPU.
	goalCatchupRatio = 1.0
	// goalSharedRatio: on a shared replica, where go-mysql decodes every
	// table's rows and the bridge only its own, twice as fast.
	goalSharedRatio = 2.0
	// goalCatchupHeap bounds the follower's live heap while catching up.
	goalCatchupHeap = 64 << 20
	// goalLiveP50 and goalLiveP99 bound the live visibility lag, journal
	// on disk.
	goalLiveP50 = 2 * time.Millisecond
	goalLiveP99 = 5 * time.Millisecond
	// goalEventsRatio: /events from the journal serves this many times the
	// requests the synthesis path does.
	goalEventsRatio = 5.0
	// goalEventsP99 bounds /events from the journal at FixedRate requests a
	// second, from send.
	goalEventsP99 = 2 * time.Millisecond
	// goalBytesPerEvent bounds the journal file per event, index included.
	goalBytesPerEvent = 100.0
	// goalServerHeap bounds the /events server's heap over a large journal.
	goalServerHeap = 64 << 20
	// goalPublishAddedP99 bounds what publishing to NATS adds to the live
	// visibility lag at p99.
	goalPublishAddedP99 = time.Millisecond
	// goalHeadersRatio: a catch-up, bulk and on a shared replica, at
	// least this share of the header-only reader's rate (headers.go): the
	// same stream with nothing parsed but each event's header, the limit
	// of following this server.
	goalHeadersRatio = 0.8
	// goalGrowthFactor: every figure of part 8 at the largest journal
	// (100M events) within this factor of its value at the smallest (1M;
	// a rate: its inverse). The catch-up heap is held to goalCatchupHeap
	// at every size.
	goalGrowthFactor = 1.5
	// goalSteadyGrowth: under retention the pages in use of the last third
	// of part 8b's cycles stay within this share of the middle third's
	// (the first third fills the window's free pages): the file is flat.
	goalSteadyGrowth = 0.05
)

// The goals' text, as the summary's goal column shows it.
var (
	goalTextExact        = "100.000%"
	goalTextBelowBare    = "below bare"
	goalTextKeepsUp      = "keeps up"
	goalTextCatchupHeap  = fmt.Sprintf("<= %d MiB", goalCatchupHeap>>20)
	goalTextLive         = fmt.Sprintf("p50 <= %s, p99 <= %s", msGoal(goalLiveP50), msGoal(goalLiveP99))
	goalTextEventsRatio  = fmt.Sprintf(">= %gx", goalEventsRatio)
	goalTextEventsP99    = "p99 <= " + msGoal(goalEventsP99)
	goalTextBytes        = fmt.Sprintf("<= %g", goalBytesPerEvent)
	goalTextServerHeap   = fmt.Sprintf("<= %d MiB", goalServerHeap>>20)
	goalTextPublishAdded = "< " + msGoal(goalPublishAddedP99)
	goalTextGrowth       = fmt.Sprintf("<= %gx", goalGrowthFactor)
	goalTextSteadyFlat   = fmt.Sprintf("flat (within %g%%)", 100*goalSteadyGrowth)
)

// ratioGoal is a ratio goal's text: ">= 100%".
func ratioGoal(ratio float64) string { return fmt.Sprintf(">= %.0f%%", 100*ratio) }

// msGoal is a duration goal in whole milliseconds: "2 ms".
func msGoal(d time.Duration) string {
	return fmt.Sprintf("%g ms", float64(d)/float64(time.Millisecond))
}
