package binlog

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	driver "github.com/go-sql-driver/mysql"
)

// queryAllRows is queryFirstRow returning every row, in the server's order.
func queryAllRows(ctx context.Context, db *sql.DB, stmts []string) ([]map[string]string, error) {
	var rows []map[string]string
	var err error
	for _, stmt := range stmts {
		rows, err = queryRows(ctx, db, stmt)
		var me *driver.MySQLError
		if errors.As(err, &me) && me.Number == 1064 { // syntax error: older server
			continue
		}
		break
	}
	return rows, err
}

// queryRows returns every row of a query as queryRow returns one.
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

// queryFirstRow runs the first of stmts the server understands (a syntax
// error means an older or newer server that names the statement otherwise:
// the next is tried) and returns its first row as queryRow does.
func queryFirstRow(ctx context.Context, db *sql.DB, stmts []string) (map[string]string, error) {
	var row map[string]string
	var err error
	for _, stmt := range stmts {
		row, err = queryRow(ctx, db, stmt)
		var me *driver.MySQLError
		if errors.As(err, &me) && me.Number == 1064 { // syntax error: older server
			continue
		}
		break
	}
	return row, err
}

// queryRow returns the first row of a query as lower-cased column name ->
// value (NULL as ""), or nil when there is none. MariaDB lists the default
// connection of a multi-source replica first.
func queryRow(ctx context.Context, db *sql.DB, query string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var row map[string]string
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
		if row == nil || r["connection_name"] == "" {
			row = r
		}
		if r["connection_name"] == "" {
			break
		}
	}
	return row, rows.Err()
}
