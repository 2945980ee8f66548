package binlog

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	driver "github.com/go-sql-driver/mysql"
)

// queryAllRows runs the first of stmts the server understands (a syntax
// error means an older or newer server that names the statement otherwise:
// the next is tried) and returns every row, in the server's order.
func queryAllRows(ctx context.Context, db *sql.DB, stmts []string) ([]map[string]string, error) {
	var rows []map[string]string
	var err error
	for _, stmt := range stmts {
		rows, err = queryRows(ctx, db, stmt)
		var me *driver.MySQLError
		if !errors.As(err, &me) || me.Number != 1064 { // 1064, a syntax error: try the next
			break
		}
	}
	return rows, err
}

// queryFirstRow is queryAllRows' row as firstRow picks it.
func queryFirstRow(ctx context.Context, db *sql.DB, stmts []string) (map[string]string, error) {
	rows, err := queryAllRows(ctx, db, stmts)
	return firstRow(rows), err
}

// queryRow is query's row as firstRow picks it.
func queryRow(ctx context.Context, db *sql.DB, query string) (map[string]string, error) {
	rows, err := queryRows(ctx, db, query)
	return firstRow(rows), err
}

// firstRow picks the row a one-row status statement means: MariaDB lists
// the default connection of a multi-source replica (connection_name "")
// among the others, and it is the one the bridge follows; otherwise the
// first row. nil when there is none.
func firstRow(rows []map[string]string) map[string]string {
	for _, r := range rows {
		if r["connection_name"] == "" {
			return r
		}
	}
	if len(rows) > 0 {
		return rows[0]
	}
	return nil
}

// queryRows returns every row of a query as lower-cased column name ->
// value (NULL as "").
func queryRows(ctx context.Context, db *sql.DB, query string) ([]map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := make(map[string]string, len(cols))
		for i, c := range cols {
			r[strings.ToLower(c)] = vals[i].String
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
