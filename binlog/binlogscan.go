package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	driver "github.com/go-sql-driver/mysql"
)

// boundaryScan is what scanForBoundary found.
type boundaryScan struct {
	found     bool
	at        Position // where the boundary starts
	statement string
	events    int // events looked at
}

// binlogGoneError says the binlog to scan is no longer on the server.
type binlogGoneError struct{ err error }

func (e *binlogGoneError) Error() string { return e.err.Error() }

// scanForBoundary looks through the server's binlog from the event at from
// up to (not including) the event at to for a statement that may change
// the layout of schema.table (mayChangeLayout), with SHOW BINLOG EVENTS a
// page at a time. It reads no row: the server sends one line per event,
// with a query event's statement and default database in its Info
// ("use `db`; ALTER TABLE ...").
func scanForBoundary(ctx context.Context, db *sql.DB, from, to Position, schema, table string) (boundaryScan, error) {
	var scan boundaryScan
	if from.Compare(to) >= 0 {
		return scan, nil
	}
	files, err := binaryLogs(ctx, db)
	if err != nil {
		return scan, err
	}
	first := -1
	for i, f := range files {
		if f == from.File {
			first = i
		}
	}
	if first < 0 {
		return scan, &binlogGoneError{fmt.Errorf("binlog file %s is not among the server's (SHOW BINARY LOGS)", from.File)}
	}
	for i, file := range files[first:] {
		if file > to.File {
			break
		}
		pos := uint32(4)
		if i == 0 {
			pos = from.Pos
		}
		for {
			n, next, err := scanPage(ctx, db, file, pos, to, schema, table, &scan)
			if err != nil || scan.found || next == 0 {
				return scan, err
			}
			if n < binlogEventsPage {
				break // the file ends
			}
			pos = next
		}
	}
	return scan, nil
}

// scanPage reads one page of SHOW BINLOG EVENTS from file:pos into scan.
// It returns how many events it read and where the next page starts, 0
// once it reached to.
func scanPage(ctx context.Context, db *sql.DB, file string, pos uint32, to Position, schema, table string, scan *boundaryScan) (int, uint32, error) {
	q := fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' FROM %d LIMIT %d", strings.ReplaceAll(file, "'", "''"), pos, binlogEventsPage)
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		var me *driver.MySQLError
		if errors.As(err, &me) && me.Number == errBinlogCommand {
			return 0, 0, &binlogGoneError{fmt.Errorf("%s: %w", q, err)}
		}
		return 0, 0, fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	n, next := 0, pos
	for rows.Next() {
		var logName, eventType, info string
		var start, serverID, end uint64
		if err := rows.Scan(&logName, &start, &eventType, &serverID, &end, &info); err != nil {
			return n, 0, err
		}
		if file == to.File && start >= uint64(to.Pos) {
			return n, 0, rows.Err()
		}
		n++
		scan.events++
		next = uint32(end)
		if !strings.HasPrefix(eventType, "Query") {
			continue
		}
		defaultSchema, stmt := splitUse(info)
		if mayChangeLayout([]byte(stmt), defaultSchema, schema, table) {
			scan.found, scan.at, scan.statement = true, Position{file, uint32(start)}, stmt
			return n, 0, nil
		}
	}
	return n, next, rows.Err()
}

// errBinlogCommand is ER_ERROR_WHEN_EXECUTING_COMMAND, which SHOW BINLOG
// EVENTS answers for a file that is gone ("Could not find target log").
const errBinlogCommand = 1220

// splitUse splits a query event's Info, "use `db`; statement" (a backquote
// in the name doubled), into the database and the statement; the database
// is "" when the Info names none.
func splitUse(info string) (schema, stmt string) {
	const prefix = "use `"
	if !strings.HasPrefix(info, prefix) {
		return "", info
	}
	var b strings.Builder
	for i := len(prefix); i < len(info); i++ {
		c := info[i]
		if c != '`' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(info) && info[i+1] == '`' {
			b.WriteByte('`')
			i++
			continue
		}
		if rest, ok := strings.CutPrefix(info[i+1:], "; "); ok {
			return b.String(), rest
		}
		break
	}
	return "", info // not the form expected: the database is unknown
}

// binaryLogs lists the server's binlog files, oldest first.
func binaryLogs(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("list the server's binlogs (SHOW BINARY LOGS): %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var files []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		files = append(files, string(vals[0]))
	}
	return files, rows.Err()
}
