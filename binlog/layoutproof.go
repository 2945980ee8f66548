package binlog

import (
	"errors"
	"fmt"
	"slices"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-mysql-org/go-mysql/replication"
)

// A row image is a list of values in column order; which column is which
// the binlog says only with binlog_row_metadata=FULL (the table map then
// names the columns). Otherwise the follower must know the table's layout
// as it was when the row was written, and information_schema tells it only
// as it is now. So a row is decoded only by a layout proven to be its own:
//
//   - the table map's own column names, when it has them;
//   - else a layout proven at a position the rows lie after, with no
//     statement that may change the layout (ddl.go: a layout boundary)
//     between that position and the rows. The checkpoint carries it
//     (journal.Checkpoint.Columns) while it stays proven.
//
// After a boundary (or where the stream starts without a proven layout:
// a fresh span, another server, a checkpoint that carries none) the
// layout is unknown until the first row of the table that needs it. Then
// proveLayout reads the columns as they are now, then the binlog's end E,
// and looks through the binlog from the boundary to E for another
// boundary. A DDL statement is in the binlog before its result shows in
// information_schema (the server writes it while it holds the table's
// exclusive metadata lock, which reading the columns waits for), so when
// there is none, the columns read are those the table has had since the
// boundary. When there is one, the rows between were written with a
// layout nobody can know any longer: the applier stops with coverageLost
// (ReasonSchemaChanged) and the follower records a gap and starts a fresh
// span from a snapshot, rather than guess or stop for good.
//
// The look-ahead reads the binlog with SHOW BINLOG EVENTS, page by page,
// on the follower's pool: a second binlog dump would need a replication
// server_id of its own, and a server ends the dump of any replica that
// connects with the same one. It decodes no rows (the server sends one
// short line per event); its cost is measured in docs/operations.md.

// binlogEventsPage is how many events one SHOW BINLOG EVENTS returns (a
// variable for tests, which page through a short binlog).
var binlogEventsPage = 10000

// provenLayout is a layout proven over a stretch of one server's binlog:
// from is where it was to be proven from, to the binlog's end when it was.
// Any position between them has it too, so a stream restarted inside the
// stretch (the server may drop a dump connection the applier kept waiting
// while it looked ahead) proves it again by looking only past to.
type provenLayout struct {
	server   string
	from, to Position
	columns  []string
}

// layoutBoundary notes that the statement just read may have changed the
// table's layout: rows after it decode only by a layout proven for them.
func (a *applier) layoutBoundary(stmt []byte) {
	a.layKnown = false
	a.laySince = a.pos
	a.cp.Columns = nil
	a.f.log.Info("table layout may have changed: rows that follow decode only by a layout proven for them",
		"position", a.pos.String(), "statement", clip(stmt, 200))
}

// noteStreamStart notes where the stream starts, which an unknown layout
// is to be proven from: where the first event of a transaction the server
// sent starts. A checkpoint's own position may be older (a stream started
// by GTID set reports the start of the binlog file, whose events before the
// set it never sends), or of another server; and the events a server sends
// first (rotation, format description, GTID list, ...) carry earlier
// positions of the file. Starting the look-ahead too early would find
// changes the rows are not after, and cost a gap at every start.
func (a *applier) noteStreamStart(ev *replication.BinlogEvent) {
	if a.layKnown || a.laySince.File != "" || a.pos.File == "" || ev.Header.LogPos < ev.Header.EventSize {
		return
	}
	switch ev.Event.(type) {
	case *replication.MariadbGTIDEvent, *replication.GTIDEvent, *replication.GtidTaggedLogEvent, *replication.QueryEvent,
		*replication.RowsEvent, *replication.XIDEvent, *replication.TransactionPayloadEvent:
		a.laySince = Position{a.pos.File, ev.Header.LogPos - ev.Header.EventSize}
	}
}

// layoutFor makes a.lay a layout proven for a rows event of table: the
// event's own column names when it has them, else the proven layout, else
// one proveLayout proves.
func (a *applier) layoutFor(table *replication.TableMapEvent) error {
	if len(table.ColumnName) > 0 {
		if !a.layKnown {
			names := table.ColumnNameString()
			lay, err := newLayout(names)
			if err != nil {
				return err
			}
			a.lay, a.layKnown, a.cp.Columns = lay, true, slices.Clone(names)
		}
		return nil
	}
	if a.layKnown {
		return nil
	}
	return a.proveLayout()
}

// proveLayout proves the table's layout from a.laySince on, or returns
// coverageLost when it cannot be known.
func (a *applier) proveLayout() error {
	since, f := a.laySince, a.f
	if since.File == "" {
		return &coverageLost{reason: ReasonSchemaChanged, detail: "rows of " + bridge.Table + " before any position the layout could be proven from"}
	}
	started := time.Now()
	cols, err := readColumns(a.ctx, f.db, f.dsn.DBName)
	if err != nil {
		return fmt.Errorf("prove the layout of %s: %w", bridge.Table, err)
	}
	end, err := CurrentPosition(a.ctx, f.db, f.cfg.Info.Flavor)
	if err != nil {
		return fmt.Errorf("prove the layout of %s: %w", bridge.Table, err)
	}
	// Only the stretch a proof of the same layout has not looked at yet.
	from := since
	server := f.serverName()
	if p := f.lastProof; p != nil && p.server == server && slices.Equal(p.columns, cols) &&
		p.from.Compare(since) <= 0 && since.Compare(p.to) <= 0 {
		from = p.to
	}
	scan, err := scanForBoundary(a.ctx, f.db, from, end.Position, f.dsn.DBName, bridge.Table)
	var gone *binlogGoneError
	switch {
	case errors.As(err, &gone):
		return &coverageLost{reason: ReasonSchemaChanged, detail: fmt.Sprintf("the binlog from %s, where the layout of %s is to be proven, is gone (%v)", since, bridge.Table, err)}
	case err != nil:
		return fmt.Errorf("prove the layout of %s from %s: %w", bridge.Table, since, err)
	case scan.found:
		return &coverageLost{reason: ReasonSchemaChanged, detail: fmt.Sprintf(
			"rows of %s after %s were written with a layout that can no longer be known: %q at %s changed it again before the binlog's end %s (set binlog_row_metadata=FULL so rows name their columns)",
			bridge.Table, since, clip([]byte(scan.statement), 200), scan.at, end.Position)}
	}
	lay, err := newLayout(cols)
	if err != nil {
		return err
	}
	a.lay, a.layKnown, a.cp.Columns = lay, true, cols
	f.lastProof = &provenLayout{server: server, from: since, to: end.Position, columns: cols}
	f.log.Info("table layout proven", "columns", cols, "from", since.String(), "to", end.Position.String(),
		"events_scanned", scan.events, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// clip shortens a statement for a log line.
func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
