package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
)

// Every coverage instant comes from a database server, never from the
// bridge host's clock (docs/guarantees.md, "The database's clock"): span
// starts, proof claims and the replication watch's reading times are read
// with serverClockSQL in the same statement as what they date, or right
// next to it, and each reading also tells the journal how far the server's
// clock is from the host's (journal.ClockReading).

// serverClockSQL is the server's clock as microseconds since the Unix
// epoch, computed from UTC_TIMESTAMP(6) by date arithmetic alone: neither
// the session's time zone nor the driver's loc= can shift it.
const serverClockSQL = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6))"

// unixMicros turns serverClockSQL's value into a time.
func unixMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// hostClock is the bridge host's clock; only the bounds of a ClockReading
// (and durations, for pacing) are ever taken from it.
func hostClock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// readServerClock reads db's clock alone.
func readServerClock(ctx context.Context, db *sql.DB, host func() time.Time) (journal.ClockReading, error) {
	var us int64
	before := host()
	if err := db.QueryRowContext(ctx, "SELECT "+serverClockSQL).Scan(&us); err != nil {
		return journal.ClockReading{}, fmt.Errorf("read the server's clock (UTC_TIMESTAMP): %w", err)
	}
	return journal.ClockReading{HostBefore: before, Server: unixMicros(us), HostAfter: host()}, nil
}
