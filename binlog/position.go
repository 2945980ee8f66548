package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Position is a binlog coordinate.
type Position struct {
	File string
	Pos  uint32
}

// Compare orders positions: binlog file names share a base and a
// zero-padded sequence number, so they sort as strings.
func (p Position) Compare(o Position) int {
	if c := strings.Compare(p.File, o.File); c != 0 {
		return c
	}
	switch {
	case p.Pos < o.Pos:
		return -1
	case p.Pos > o.Pos:
		return 1
	}
	return 0
}

func (p Position) String() string { return fmt.Sprintf("%s:%d", p.File, p.Pos) }

// ServerPosition is where the server's binlog currently ends.
type ServerPosition struct {
	Position
	// GTIDSet is the executed GTID set, empty when the server has none.
	GTIDSet string
	// Filters are the server's binlog filters (binlog_do_db and
	// binlog_ignore_db), which the same statement reports.
	Filters BinlogFilters
}

// CurrentPosition reads the end of the server's binlog. MySQL 8.2 renamed
// SHOW MASTER STATUS to SHOW BINARY LOG STATUS (and 8.4 removed the old
// name), so both are tried.
func CurrentPosition(ctx context.Context, db *sql.DB, flavor Flavor) (ServerPosition, error) {
	var sp ServerPosition
	statements := []string{"SHOW MASTER STATUS"}
	if flavor == FlavorMySQL {
		statements = []string{"SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"}
	}
	row, err := queryFirstRow(ctx, db, statements)
	if err != nil {
		return sp, fmt.Errorf("read the server's binlog position: %w", err)
	}
	if row == nil {
		return sp, errors.New("the server reports no binlog position: is log_bin on?")
	}
	sp.File = row["file"]
	var pos uint64
	fmt.Sscan(row["position"], &pos)
	sp.Pos = uint32(pos)
	sp.GTIDSet = strings.ReplaceAll(row["executed_gtid_set"], "\n", "")
	sp.Filters = BinlogFilters{DoDB: row["binlog_do_db"], IgnoreDB: row["binlog_ignore_db"]}
	if sp.File == "" {
		return sp, errors.New("the server reports no binlog file: is log_bin on?")
	}
	if flavor == FlavorMariaDB {
		if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&sp.GTIDSet); err != nil {
			return sp, fmt.Errorf("read gtid_binlog_pos: %w", err)
		}
	}
	return sp, nil
}

// Behind reads the followed server's binlog end and how many bytes the
// settled position trails it; known is false until the follower settled
// somewhere, or when the end is in another file.
func (f *Follower) Behind(ctx context.Context) (end ServerPosition, behind uint32, known bool, err error) {
	end, err = CurrentPosition(ctx, f.cfg.Replica.SQL(), f.cfg.Info.Flavor)
	if err != nil {
		return end, 0, false, err
	}
	pos, ok := f.Settled()
	if !ok || pos.File != end.File || end.Pos < pos.Pos {
		return end, 0, false, nil
	}
	return end, end.Pos - pos.Pos, true, nil
}
