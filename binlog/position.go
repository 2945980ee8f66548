package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
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
	var rows *sql.Rows
	var err error
	for _, stmt := range statements {
		rows, err = db.QueryContext(ctx, stmt)
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1064 { // syntax error: older server
			continue
		}
		break
	}
	if err != nil {
		return sp, fmt.Errorf("read the server's binlog position: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return sp, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return sp, err
		}
		return sp, errors.New("the server reports no binlog position: is log_bin on?")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return sp, err
	}
	for i, c := range cols {
		switch strings.ToLower(c) {
		case "file":
			sp.File = vals[i].String
		case "position":
			var pos uint64
			fmt.Sscan(vals[i].String, &pos)
			sp.Pos = uint32(pos)
		case "executed_gtid_set":
			sp.GTIDSet = strings.ReplaceAll(vals[i].String, "\n", "")
		}
	}
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
