package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
)

// finishingConnector hands go-sql-driver contexts that a cancellation does
// not end, only their deadline: a query once sent runs to its end (at most
// its timeout), and the connection stays in the pool until the pool closes
// it with COM_QUIT.
//
// go-sql-driver answers a cancelled context by closing the socket at once,
// without COM_QUIT, and MariaDB logs "Aborted connection ... (Got an error
// reading communication packets)" for it. The daemon cancels its services'
// contexts when it stops, so every query that happened to be running (a
// health check, a replication poll) left such a line. A caller whose
// context is cancelled still gets its answer no later than the deadline;
// database/sql itself returns the cancellation once the driver is done.
type finishingConnector struct{ driver.Connector }

func (c finishingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	ctx, cancel := uncancelled(ctx)
	defer cancel()
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return finishingConn{conn}, nil
}

// uncancelled is ctx without its cancellation but with its deadline.
func uncancelled(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	ctx = context.WithoutCancel(ctx)
	if !ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, deadline)
}

// finishingConn is go-sql-driver's connection with every context-taking
// method given an uncancelled context; the other methods it has are passed
// on as they are, so database/sql treats it as it would the driver's own.
type finishingConn struct{ driver.Conn }

// errNotSupported is never expected: go-sql-driver's connection has every
// interface forwarded here.
var errNotSupported = errors.New("the MySQL driver's connection lacks an interface the pool expects")

func (c finishingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := c.Conn.(driver.ConnBeginTx)
	if !ok {
		return nil, errNotSupported
	}
	ctx, cancel := uncancelled(ctx)
	defer cancel()
	return b.BeginTx(ctx, opts)
}

func (c finishingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	p, ok := c.Conn.(driver.ConnPrepareContext)
	if !ok {
		return nil, errNotSupported
	}
	ctx, cancel := uncancelled(ctx)
	defer cancel()
	s, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return finishingStmt{s}, nil
}

func (c finishingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, cancel := uncancelled(ctx)
	defer cancel()
	return e.ExecContext(ctx, query, args)
}

// QueryContext's rows are read after it returns, so the context it gives
// the driver lives until they are closed: database/sql closes them when
// the caller's context ends, and the driver then reads the rest of the
// answer, which keeps the connection usable.
func (c finishingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, cancel := uncancelled(ctx)
	rows, err := q.QueryContext(ctx, query, args)
	if err != nil {
		cancel()
		return nil, err
	}
	return finishingRows{rows, cancel}, nil
}

func (c finishingConn) Ping(ctx context.Context) error {
	p, ok := c.Conn.(driver.Pinger)
	if !ok {
		return nil
	}
	ctx, cancel := uncancelled(ctx)
	defer cancel()
	return p.Ping(ctx)
}

func (c finishingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c finishingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c finishingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// finishingStmt is a prepared statement whose executions are uncancelled.
type finishingStmt struct{ driver.Stmt }

func (s finishingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.Stmt.(driver.StmtExecContext)
	if !ok {
		return nil, errNotSupported
	}
	ctx, cancel := uncancelled(ctx)
	defer cancel()
	return e.ExecContext(ctx, args)
}

func (s finishingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.Stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, errNotSupported
	}
	ctx, cancel := uncancelled(ctx)
	rows, err := q.QueryContext(ctx, args)
	if err != nil {
		cancel()
		return nil, err
	}
	return finishingRows{rows, cancel}, nil
}

func (s finishingStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// finishingRows releases the query's context when the rows are closed, and
// passes on what go-sql-driver's rows tell of their columns and result
// sets.
type finishingRows struct {
	driver.Rows
	cancel context.CancelFunc
}

func (r finishingRows) Close() error {
	defer r.cancel()
	return r.Rows.Close()
}

func (r finishingRows) HasNextResultSet() bool {
	n, ok := r.Rows.(driver.RowsNextResultSet)
	return ok && n.HasNextResultSet()
}

func (r finishingRows) NextResultSet() error {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.NextResultSet()
	}
	return io.EOF
}

func (r finishingRows) ColumnTypeScanType(i int) reflect.Type {
	if c, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return c.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r finishingRows) ColumnTypeDatabaseTypeName(i int) string {
	if c, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return c.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r finishingRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if c, is := r.Rows.(driver.RowsColumnTypeNullable); is {
		return c.ColumnTypeNullable(i)
	}
	return false, false
}

func (r finishingRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if c, is := r.Rows.(driver.RowsColumnTypePrecisionScale); is {
		return c.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
