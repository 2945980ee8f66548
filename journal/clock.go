package journal

import "time"

// Coverage instants are the database's: created_at is the primary's NOW(),
// binlog headers carry the primary's timestamps, and every proof reads its
// claim from a server's clock (docs/guarantees.md, "The database's clock").
// The bridge host's clock may differ from them by seconds. The one instant
// the journal must place on the servers' clock itself is a request's
// present: the "as of" of Window, which a confirmation must reach before
// the journal vouches for the present. The journal keeps the offset of the
// followed server's clock from the host's, measured at every proof reading
// and bounded on both sides, and reads the present through it.

// ClockReading is one reading of a server's clock: Server is what the server
// said, HostBefore and HostAfter the host's clock just before the query was
// sent and just after its answer arrived. The server read its clock at some
// host instant between the two, so its offset from the host's clock lies in
// [Server-HostAfter, Server-HostBefore].
type ClockReading struct {
	HostBefore, Server, HostAfter time.Time
}

// IsZero reports whether r holds no reading.
func (r ClockReading) IsZero() bool { return r.Server.IsZero() }

// Offsets returns the bounds of the server clock's offset from the host's.
func (r ClockReading) Offsets() (low, high time.Duration) {
	return r.Server.Sub(r.HostAfter), r.Server.Sub(r.HostBefore)
}

// serverClock is the journal's view of the followed server's clock: the
// offset bounds of the latest reading. The latest reading wins over older
// ones, so a server clock stepped by NTP is followed at its next reading.
type serverClock struct {
	low, high time.Duration
	known     bool
}

// ObserveClock records a reading of the clock the follower's proofs vouch
// in (the followed server's, or with -primary-dsn the primary's). The
// follower calls it at every proof reading.
func (j *Journal) ObserveClock(r ClockReading) {
	if r.IsZero() || r.HostAfter.Before(r.HostBefore) {
		return
	}
	low, high := r.Offsets()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.clock = serverClock{low: low, high: high, known: true}
}

// ServerNow bounds the followed server's clock now: it reads at least low
// and at most high. Before the first reading both are the host's clock.
func (j *Journal) ServerNow() (low, high time.Time) {
	host := j.now()
	j.mu.Lock()
	c := j.clock
	j.mu.Unlock()
	if !c.known {
		return host, host
	}
	return host.Add(c.low), host.Add(c.high)
}

// Now is the present as the journal judges requests by: the latest the
// followed server's clock can read now (the upper bound of ServerNow), so
// that a confirmation reaching it has certainly reached the moment the
// request began. A request's "as of" is this instant.
func (j *Journal) Now() time.Time {
	_, high := j.ServerNow()
	return high
}

// serverNowLow is the earliest the followed server's clock can read now.
func (j *Journal) serverNowLow() time.Time {
	low, _ := j.ServerNow()
	return low
}
