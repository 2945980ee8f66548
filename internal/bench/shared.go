package bench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// otherTable is the shared replica's other traffic: a table of another
// application, written far more often than Jetmon's.
const otherTable = "app_counters"

const otherSchema = "CREATE TABLE " + otherTable + " (\n" +
	"  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,\n" +
	"  owner BIGINT UNSIGNED NOT NULL,\n" +
	"  title VARCHAR(100) NOT NULL,\n" +
	"  state VARCHAR(20) NOT NULL,\n" +
	"  hits INT UNSIGNED NOT NULL,\n" +
	"  modified DATETIME NOT NULL\n" +
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"

// OtherPerTransition is how many rows of the other table change, in one
// UPDATE, per transition in the shared-replica stretch.
const OtherPerTransition = 20

// RunShared measures catch-up on a shared replica's binlog: Jetmon's
// single-row transitions, each followed on its connection by an UPDATE of
// OtherPerTransition rows of another application's table, so that the
// bridge's table is a twenty-first of the row changes. The readers
// of part 1 take the stretch.
func RunShared(ctx context.Context, cfg Config, srv *testdb.Server) (*CatchupResult, error) {
	db, err := createDatabase(srv, "shared")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, otherSchema); err != nil {
		return nil, fmt.Errorf("create %s: %w", otherTable, err)
	}
	c := &CatchupResult{Name: "shared", Database: "shared", Transitions: cfg.scaled(50_000, 2_500), RowsPerTxn: 1}
	c.Monitors = min(100_000, max(c.Transitions/10, 1000))
	c.OtherRows = OtherPerTransition * c.Transitions
	// Four connections, each updating its own chunks of the other table.
	otherRows := OtherPerTransition * 4 * 250
	logf(cfg, "shared replica: %d monitors, %d rows of %s", c.Monitors, otherRows, otherTable)
	if err := insertMonitors(ctx, db, 1, c.Monitors, nil); err != nil {
		return nil, err
	}
	if err := insertOtherRows(ctx, db, otherRows); err != nil {
		return nil, err
	}
	if c.Start, err = serverEnd(ctx, db); err != nil {
		return nil, err
	}
	logf(cfg, "shared replica: filling %d transitions among %d other row changes", c.Transitions, c.OtherRows)
	chunks := otherRows / OtherPerTransition
	q := "UPDATE " + otherTable + " SET hits = hits + 1, modified = FROM_UNIXTIME(?) WHERE id BETWEEN ? AND ?"
	between := func(ctx context.Context, conn *sql.Conn, i int) error {
		// Transition i runs on connection i%4, and chunk i%chunks (chunks
		// is a multiple of 4) is congruent to it: the connections never
		// share rows, so they never wait for each other's locks.
		lo := (i%chunks)*OtherPerTransition + 1
		res, err := conn.ExecContext(ctx, q, 1_760_000_000+i, lo, lo+OtherPerTransition-1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != OtherPerTransition {
			return fmt.Errorf("%s update changed %d rows, want %d", otherTable, n, OtherPerTransition)
		}
		return nil
	}
	t := time.Now()
	if c.Transactions, err = fillSingle(ctx, db, c.Monitors, c.Transitions, between); err != nil {
		return c, err
	}
	c.Transactions *= 2
	c.Fill = time.Since(t)
	if c.End, err = serverEnd(ctx, db); err != nil {
		return c, err
	}
	if c.BinlogBytes, err = stretchBytes(ctx, db, c.Start, c.End); err != nil {
		return c, err
	}
	logf(cfg, "shared replica: %d transitions and %d other row changes in %s of binlog, filled in %s",
		c.Transitions, c.OtherRows, mib(uint64(c.BinlogBytes)), c.Fill.Round(time.Millisecond))
	if err := measureCatchup(ctx, cfg, srv, db, c, true); err != nil {
		return c, err
	}
	return c, nil
}

// insertOtherRows fills the other table with n rows.
func insertOtherRows(ctx context.Context, db *sql.DB, n int) error {
	const chunk = 1000
	for done := 0; done < n; done += chunk {
		k := min(chunk, n-done)
		var q strings.Builder
		q.WriteString("INSERT INTO " + otherTable + " (id, owner, title, state, hits, modified) VALUES ")
		args := make([]any, 0, 3*k)
		for i := range k {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?, ?, ?, 'published', 0, FROM_UNIXTIME(1750000000))")
			id := done + i + 1
			args = append(args, id, id%977, fmt.Sprintf("an item of another application, number %d", id))
		}
		if _, err := db.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("insert into %s: %w", otherTable, err)
		}
	}
	return nil
}
