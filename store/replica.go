package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-sql-driver/mysql"
)

// DB is a connection pool on one Jetmon database whose every query is bounded
// by a timeout.
type DB struct {
	sql     *sql.DB
	cfg     *mysql.Config
	timeout time.Duration
}

// Option changes how Open connects.
type Option func(*openOptions)

type openOptions struct {
	tls *ClientTLS
}

// WithTLS makes every connection use c (-db-tls-ca, -db-tls-cert,
// -db-tls-key), verifying that the server's certificate names the DSN's
// host. Config()'s TLS is the same configuration, for the binlog stream.
func WithTLS(c *ClientTLS) Option { return func(o *openOptions) { o.tls = c } }

// Open connects to the database a DSN names. flag names the DSN's flag in
// errors. It does not contact the server; Ping does.
func Open(flag, dsn string, timeout time.Duration, opts ...Option) (*DB, error) {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := ParseDSN(flag, dsn)
	if err != nil {
		return nil, err
	}
	if o.tls != nil {
		if err := useTLS(flag, cfg, o.tls); err != nil {
			return nil, err
		}
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", flag, redactErr(err))
	}
	db := sql.OpenDB(finishingConnector{explainingConnector{Connector: conn, flag: flag, tls: cfg.TLS != nil}})
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(time.Minute)
	return &DB{sql: db, cfg: cfg, timeout: timeout}, nil
}

// explainingConnector is the driver's connector with explainConnect applied
// to every failed connection attempt, whichever query made it.
type explainingConnector struct {
	driver.Connector
	flag string
	tls  bool
}

func (c explainingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, explainConnect(c.flag, c.tls, err)
	}
	return conn, nil
}

// Config returns the parsed DSN (with the bridge's session settings).
func (d *DB) Config() *mysql.Config { return d.cfg.Clone() }

// SQL returns the underlying pool.
func (d *DB) SQL() *sql.DB { return d.sql }

// Close closes the pool.
func (d *DB) Close() error { return d.sql.Close() }

func (d *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d.timeout)
}

// Ping checks that the server answers a query.
func (d *DB) Ping(ctx context.Context) error {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	var one int
	if err := d.sql.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("%s does not answer: %w", d.cfg.Addr, err)
	}
	return nil
}

const monitorColumns = "jetpack_monitor_site_id, blog_id, monitor_url, monitor_active, site_status, last_status_change"

func scanMonitor(rows *sql.Rows) (bridge.Monitor, error) {
	var m bridge.Monitor
	var active, status uint8
	var changed sql.NullTime
	if err := rows.Scan(&m.SiteID, &m.BlogID, &m.URL, &active, &status, &changed); err != nil {
		return m, err
	}
	m.Active, m.Status = active != 0, bridge.Status(status)
	if changed.Valid {
		m.LastStatusChange = changed.Time.UTC()
	}
	return m, nil
}

// monitorsByURL returns the rows whose monitor_url is exactly url. MySQL
// compares strings case- and trailing-space-insensitively, so SQL finds the
// candidates and Go keeps the exact matches. Jetmon's schema has no index
// leading with monitor_url, so this scans the table: fine for lookups made
// once per benchmark target, and the bridge adds no index to Jetmon's schema.
func monitorsByURL(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, url string) ([]bridge.Monitor, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+monitorColumns+" FROM "+bridge.Table+
		" WHERE monitor_url = ? ORDER BY jetpack_monitor_site_id", url)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bridge.Monitor
	for rows.Next() {
		m, err := scanMonitor(rows)
		if err != nil {
			return nil, err
		}
		if m.URL == url {
			out = append(out, m)
		}
	}
	return out, rows.Err()
}

// ActiveMonitor returns the active monitor whose URL is exactly url.
func (d *DB) ActiveMonitor(ctx context.Context, url string) (bridge.Monitor, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	ms, err := monitorsByURL(ctx, d.sql, url)
	if err != nil {
		return bridge.Monitor{}, fmt.Errorf("look up monitor: %w", err)
	}
	for _, m := range ms {
		if m.Active {
			return m, nil
		}
	}
	return bridge.Monitor{}, bridge.ErrNotFound
}

// LatestChange returns the blog's monitor row whose status changed last: the
// one v1 synthesis speaks for.
func (d *DB) LatestChange(ctx context.Context, blogID uint64) (bridge.Monitor, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	rows, err := d.sql.QueryContext(ctx, "SELECT "+monitorColumns+" FROM "+bridge.Table+
		" WHERE blog_id = ? ORDER BY last_status_change DESC, jetpack_monitor_site_id DESC LIMIT 1", blogID)
	if err != nil {
		return bridge.Monitor{}, fmt.Errorf("read blog %d: %w", blogID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return bridge.Monitor{}, fmt.Errorf("read blog %d: %w", blogID, err)
		}
		return bridge.Monitor{}, bridge.ErrNotFound
	}
	m, err := scanMonitor(rows)
	if err != nil {
		return bridge.Monitor{}, fmt.Errorf("read blog %d: %w", blogID, err)
	}
	return m, nil
}

// AllMonitors calls fn for every row of the table, in primary-key order, in
// pages, so memory stays bounded whatever the table's size.
func (d *DB) AllMonitors(ctx context.Context, fn func(bridge.Monitor) error) error {
	var after uint64
	for {
		qctx, cancel := d.bound(ctx)
		rows, err := d.sql.QueryContext(qctx, "SELECT "+monitorColumns+" FROM "+bridge.Table+
			" WHERE jetpack_monitor_site_id > ? ORDER BY jetpack_monitor_site_id LIMIT 5000", after)
		if err != nil {
			cancel()
			return fmt.Errorf("read monitors: %w", err)
		}
		n := 0
		for rows.Next() {
			m, err := scanMonitor(rows)
			if err == nil {
				err = fn(m)
			}
			if err != nil {
				rows.Close()
				cancel()
				return err
			}
			after = m.SiteID
			n++
		}
		err = rows.Err()
		rows.Close()
		cancel()
		if err != nil {
			return fmt.Errorf("read monitors: %w", err)
		}
		if n < 5000 {
			return nil
		}
	}
}
