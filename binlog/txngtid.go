package binlog

import (
	"strconv"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"
)

// The follower remembers the GTID of each source transaction whose events
// it journals (journal.SourceTxn), so that an event can be named by its
// transaction and its place in it: names that two bridges following two
// replicas of one primary give alike (see nats/, which publishes them).

// announcedGTID returns the GTID a GTID event announces for the transaction
// that follows, or "" when it announces none (MySQL's anonymous GTID events
// on a server without GTIDs).
func announcedGTID(ev replication.Event) string {
	switch e := ev.(type) {
	case *replication.MariadbGTIDEvent:
		return e.GTID.String()
	case *replication.GTIDEvent:
		u, err := uuid.FromBytes(e.SID)
		if err != nil || u == uuid.Nil || e.GNO <= 0 {
			return ""
		}
		s := u.String() + ":"
		if tag := e.Tag.String(); tag != "" {
			s += tag + ":"
		}
		return s + strconv.FormatInt(e.GNO, 10)
	}
	return ""
}

// noteGTID records, as the transaction being committed joins the batch,
// which of the batch's events (from first on) it made and its GTID, then
// forgets the GTID: the next transaction announces its own.
func (a *applier) noteGTID(first int) {
	gtid := a.gtid
	a.gtid = ""
	if n := a.batch.EventCount() - first; n > 0 && gtid != "" && a.f.cfg.Info.GTID {
		a.batch.Txns = append(a.batch.Txns, journal.SourceTxn{First: first, Count: n, GTID: gtid})
	}
}
