package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// ReasonServerChanged is the gap reason recorded when the follower starts
// on a server that did not write the journal's checkpoint and cannot
// continue it.
const ReasonServerChanged = "followed server changed"

// reasonSwitchedByGTID closes a span when the follower continued on
// another server by GTID set, missing nothing (a gap of no length).
const reasonSwitchedByGTID = ReasonServerChanged + "; resumed by GTID set, nothing missed"

// ReadIdentity reads who the server is: @@server_id, and @@server_uuid on
// MySQL or @@gtid_domain_id on MariaDB. addr is its host:port as the DSN
// names it.
func ReadIdentity(ctx context.Context, db *sql.DB, flavor Flavor, addr string) (journal.ServerIdentity, error) {
	id := journal.ServerIdentity{Addr: addr}
	var err error
	if flavor == FlavorMariaDB {
		err = db.QueryRowContext(ctx, "SELECT @@GLOBAL.server_id, @@GLOBAL.gtid_domain_id").Scan(&id.ServerID, &id.GTIDDomain)
	} else {
		err = db.QueryRowContext(ctx, "SELECT @@GLOBAL.server_id, @@GLOBAL.server_uuid").Scan(&id.ServerID, &id.UUID)
	}
	if err != nil {
		return id, fmt.Errorf("read the server's identity (server_id): %w", err)
	}
	return id, nil
}

// history says how a server's GTIDs relate to a checkpoint's GTID set.
type history int

const (
	// historyUnrelated: the server never saw some of the set's sources;
	// it is not part of the topology that wrote the checkpoint.
	historyUnrelated history = iota
	// historyBehind: it replicates the same sources but has not yet
	// applied all of the set.
	historyBehind
	// historyContains: it has applied all of the set; its binlog continues
	// from it.
	historyContains
)

// executedGTIDs reads what the server has written to its binlog, in the
// form compareHistory takes: MySQL's @@gtid_executed set, or MariaDB's
// @@gtid_binlog_state (the last GTID of every domain and server id, where
// @@gtid_binlog_pos keeps one per domain).
func executedGTIDs(ctx context.Context, db *sql.DB, flavor Flavor) (string, error) {
	q := "SELECT @@GLOBAL.gtid_executed"
	if flavor == FlavorMariaDB {
		q = "SELECT @@GLOBAL.gtid_binlog_state"
	}
	var s string
	if err := db.QueryRowContext(ctx, q).Scan(&s); err != nil {
		return "", fmt.Errorf("read the server's executed GTIDs: %w", err)
	}
	return strings.ReplaceAll(s, "\n", ""), nil
}

// compareHistory relates a checkpoint's GTID set (ours) to what a server
// has executed (theirs, as executedGTIDs reads it).
//
// MySQL GTIDs are unique (the source's server_uuid and a number): theirs
// contains ours exactly when the server applied the same transactions.
// MariaDB's name their source by server_id, which is unique only within
// one topology: a server that logged a GTID of every domain and server id
// in ours, with as high a sequence number, is taken to continue it.
//
// An empty set proves nothing: the server's whole binlog would follow it.
func compareHistory(flavor Flavor, ours, theirs string) (history, error) {
	if len(splitGTIDs(ours)) == 0 {
		return historyUnrelated, nil
	}
	if flavor == FlavorMariaDB {
		return compareMariaDB(ours, theirs)
	}
	o, err := mysql.ParseMysqlGTIDSet(ours)
	if err != nil {
		return 0, fmt.Errorf("the checkpoint's GTID set %q: %w", ours, err)
	}
	t, err := mysql.ParseMysqlGTIDSet(theirs)
	if err != nil {
		return 0, fmt.Errorf("the server's gtid_executed %q: %w", theirs, err)
	}
	if t.Contain(o) {
		return historyContains, nil
	}
	for source := range *o.(*mysql.MysqlGTIDSet) {
		if _, ok := (*t.(*mysql.MysqlGTIDSet))[source]; !ok {
			return historyUnrelated, nil
		}
	}
	return historyBehind, nil
}

func compareMariaDB(ours, theirs string) (history, error) {
	type source struct{ domain, server uint32 }
	logged := map[source]uint64{}
	for _, part := range splitGTIDs(theirs) {
		g, err := mysql.ParseMariadbGTID(part)
		if err != nil {
			return 0, fmt.Errorf("the server's gtid_binlog_state %q: %w", theirs, err)
		}
		logged[source{g.DomainID, g.ServerID}] = max(logged[source{g.DomainID, g.ServerID}], g.SequenceNumber)
	}
	h := historyContains
	for _, part := range splitGTIDs(ours) {
		g, err := mysql.ParseMariadbGTID(part)
		if err != nil {
			return 0, fmt.Errorf("the checkpoint's GTID set %q: %w", ours, err)
		}
		seq, ok := logged[source{g.DomainID, g.ServerID}]
		switch {
		case !ok:
			return historyUnrelated, nil
		case seq < g.SequenceNumber:
			h = historyBehind
		}
	}
	return h, nil
}

func splitGTIDs(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// resumption is how the follower continues the journal's checkpoint on the
// server it has connected to.
type resumption int

const (
	// resumeHere: the checkpoint's own server (or one a checkpoint from
	// before servers were recorded cannot tell apart): as always.
	resumeHere resumption = iota
	// resumeByGTID: another server that has applied the checkpoint's GTID
	// set; the follower continues from the set, never from the file and
	// position, which belong to the other server.
	resumeByGTID
	// resumeNewSpan: another server that cannot continue the checkpoint
	// (no GTIDs, or not the same history): a coverage gap.
	resumeNewSpan
)

// planResume decides how to continue cp on the server now followed, whose
// identity is id. A server of the same topology that has not yet applied
// the checkpoint's GTIDs (a lagging replica) is an error: the follower
// fails and its supervisor retries until it has caught up, so nothing is
// recorded as lost that will arrive.
func (f *Follower) planResume(ctx context.Context, cp journal.Checkpoint, id journal.ServerIdentity) (resumption, error) {
	if cp.Server == nil || cp.Server.Same(id) {
		if cp.File == "" && (cp.GTIDSet == "" || !f.cfg.Info.GTID) {
			return resumeNewSpan, nil // taken over by GTID, and the server lost its GTIDs
		}
		return resumeHere, nil
	}
	if !f.cfg.Info.GTID || cp.GTIDSet == "" {
		return resumeNewSpan, nil
	}
	theirs, err := executedGTIDs(ctx, f.db, f.cfg.Info.Flavor)
	if err != nil {
		return 0, err
	}
	h, err := compareHistory(f.cfg.Info.Flavor, cp.GTIDSet, theirs)
	switch {
	case err != nil:
		return 0, err
	case h == historyContains:
		return resumeByGTID, nil
	case h == historyBehind:
		return 0, fmt.Errorf("the followed server changed from %s to %s, which has not yet applied the journal's GTIDs %s (it has %s): "+
			"waiting for its replication to catch up before resuming by GTID", cp.Server, id, cp.GTIDSet, theirs)
	}
	return resumeNewSpan, nil
}
