package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// Replication account the primary grants and every replica connects with.
const (
	ReplicationUser     = "repl"
	ReplicationPassword = "repl-secret"
)

// conflictSchema holds the table Break writes into: its own database, so a
// broken replica never touches a test's tables.
const conflictSchema = "testdb_topology"

// TopologyOptions shape a primary -> replicas chain.
type TopologyOptions struct {
	// Replicas is how many replicas follow the primary; 0 means 1.
	Replicas int
	// HeartbeatPeriod is the replicas' MASTER_HEARTBEAT_PERIOD; 0 means 1s,
	// so a test sees an idle IO thread stay current without waiting long.
	HeartbeatPeriod time.Duration
	// PrimaryArgs and ReplicaArgs are extra mariadbd options.
	PrimaryArgs, ReplicaArgs []string
	// TLS, when set, starts every server with its certificates and
	// require_secure_transport=ON (Certificates.ServerOptions), and the
	// replicas replicate over verified TLS.
	TLS *Certificates
	// ClockOffset runs every server of the chain with its clock this far
	// from the host's (Options.ClockOffset): the servers agree with each
	// other, as NTP keeps a topology's servers, and the bridge's host does
	// not.
	ClockOffset time.Duration
}

// Topology is a throwaway primary and its replicas: GTID replication
// (MASTER_USE_GTID=slave_pos), log_slave_updates on every replica, so each
// replica's own binlog carries the primary's changes with the primary's
// timestamps and GTIDs, as a production replica's does.
type Topology struct {
	Primary  *Server
	Replicas []*Replica
}

// Replica is one replica of a Topology's primary.
type Replica struct {
	*Server
	// Primary is the server this replica replicates from.
	Primary *Server

	heartbeat time.Duration
	tls       *Certificates
	conflicts *atomic.Int64
	// pending is the id of the row Break planted on this replica, 0 when
	// replication is not broken by Break.
	pending atomic.Int64
}

// ReplicaStatus is the part of SHOW SLAVE STATUS tests look at.
type ReplicaStatus struct {
	IORunning    string // Slave_IO_Running: Yes, No or Connecting
	SQLRunning   string // Slave_SQL_Running: Yes or No
	LastIOErrno  int
	LastIOError  string
	LastSQLErrno int
	LastSQLError string
	// SecondsBehind is Seconds_Behind_Master, -1 when NULL.
	SecondsBehind int64
	// SlavePos is @@gtid_slave_pos: every GTID the SQL thread has applied.
	SlavePos string
}

// StartTopology starts a primary and its replicas and returns once every
// replica has replicated the primary's replication account. Servers are
// bootstrapped concurrently, each with its own --tmpdir.
func StartTopology(opts TopologyOptions) (*Topology, error) {
	n := opts.Replicas
	if n <= 0 {
		n = 1
	}
	heartbeat := opts.HeartbeatPeriod
	if heartbeat <= 0 {
		heartbeat = time.Second
	}
	servers := make([]*Server, n+1)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range servers {
		o := Options{ServerID: i + 1, Args: opts.PrimaryArgs}
		if opts.TLS != nil {
			o = opts.TLS.ServerOptions()
			o.ServerID, o.Args = i+1, opts.PrimaryArgs
		}
		o.ClockOffset = opts.ClockOffset
		if i > 0 {
			o.Args = append([]string{"--log-slave-updates", "--relay-log=relay", "--slave-net-timeout=10"}, opts.ReplicaArgs...)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = Start(o)
		}()
	}
	wg.Wait()
	tp := &Topology{Primary: servers[0]}
	closeAll := func() {
		for _, s := range servers {
			if s != nil {
				s.Close()
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		closeAll()
		return nil, err
	}
	account := fmt.Sprintf("'%s'@'127.0.0.1'", ReplicationUser)
	if err := tp.Primary.Exec(fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s'; GRANT REPLICATION SLAVE ON *.* TO %s", account, ReplicationPassword, account)); err != nil {
		closeAll()
		return nil, fmt.Errorf("create the replication account on the primary: %w", err)
	}
	conflicts := new(atomic.Int64)
	for _, s := range servers[1:] {
		r := &Replica{Server: s, Primary: tp.Primary, heartbeat: heartbeat, tls: opts.TLS, conflicts: conflicts}
		if err := r.connect(); err != nil {
			closeAll()
			return nil, err
		}
		tp.Replicas = append(tp.Replicas, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		closeAll()
		return nil, err
	}
	return tp, nil
}

// connect points the replica at its primary and starts replication.
func (r *Replica) connect() error {
	ssl := ""
	if r.tls != nil {
		ssl = fmt.Sprintf(", MASTER_SSL=1, MASTER_SSL_CA='%s', MASTER_SSL_VERIFY_SERVER_CERT=1", r.tls.CA.Cert)
	}
	change := fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
		"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=%s%s; START SLAVE",
		r.Primary.Port, ReplicationUser, ReplicationPassword, strconv.FormatFloat(r.heartbeat.Seconds(), 'f', 3, 64), ssl)
	if err := r.Exec(change); err != nil {
		return fmt.Errorf("start replication on replica %s: %w", r.Addr(), err)
	}
	return nil
}

// Close stops and removes every server of the chain.
func (tp *Topology) Close() {
	for _, r := range tp.Replicas {
		r.Close()
	}
	tp.Primary.Close()
}

// Replica is the chain's first replica.
func (tp *Topology) Replica() *Replica { return tp.Replicas[0] }

// WaitCaughtUp waits until every replica has applied all the primary has
// written.
func (tp *Topology) WaitCaughtUp(ctx context.Context) error {
	for _, r := range tp.Replicas {
		if err := r.WaitCaughtUp(ctx); err != nil {
			return err
		}
	}
	return nil
}

// NewDB creates a database with Jetmon 1's schema on the primary, as Jetmon's
// writes go there, and waits until every replica has it. It is dropped on the
// primary (and so on the replicas) when t ends.
func (tp *Topology) NewDB(t testing.TB) *DB {
	t.Helper()
	db := NewDBOn(t, tp.Primary)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatalf("replicas did not receive database %s: %v", db.Name, err)
	}
	return db
}

// PrimaryPos is the primary's @@gtid_binlog_pos: the last GTID it wrote in
// each replication domain.
func (tp *Topology) PrimaryPos() (string, error) {
	return queryString(tp.Primary, "SELECT @@gtid_binlog_pos")
}

// CaughtUp reports whether the replica's SQL thread has applied every GTID
// the primary has written (gtid_slave_pos contains gtid_binlog_pos).
func (r *Replica) CaughtUp() (bool, error) {
	primaryPos, err := queryString(r.Primary, "SELECT @@gtid_binlog_pos")
	if err != nil {
		return false, fmt.Errorf("read the primary's gtid_binlog_pos: %w", err)
	}
	replicaPos, err := queryString(r.Server, "SELECT @@gtid_slave_pos")
	if err != nil {
		return false, fmt.Errorf("read the replica's gtid_slave_pos: %w", err)
	}
	want, err := gomysql.ParseMariadbGTIDSet(primaryPos)
	if err != nil {
		return false, err
	}
	have, err := gomysql.ParseMariadbGTIDSet(replicaPos)
	if err != nil {
		return false, err
	}
	return have.Contain(want), nil
}

// WaitCaughtUp waits until the replica has applied all the primary has
// written so far. It fails early when replication breaks.
func (r *Replica) WaitCaughtUp(ctx context.Context) error {
	var last error
	for {
		ok, err := r.CaughtUp()
		if ok {
			return nil
		}
		if err == nil {
			st, serr := r.Status()
			switch {
			case serr != nil:
				err = serr
			case st.LastSQLErrno != 0:
				return fmt.Errorf("replica %s is broken: SQL error %d: %s", r.Addr(), st.LastSQLErrno, st.LastSQLError)
			default:
				err = fmt.Errorf("replica %s behind the primary: io=%s sql=%s gtid_slave_pos=%q", r.Addr(), st.IORunning, st.SQLRunning, st.SlavePos)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica did not catch up: %w", last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Status reads the replica's SHOW SLAVE STATUS and gtid_slave_pos.
func (r *Replica) Status() (ReplicaStatus, error) {
	db, err := sql.Open("mysql", r.DSN(""))
	if err != nil {
		return ReplicaStatus{}, err
	}
	defer db.Close()
	rows, err := db.Query("SHOW SLAVE STATUS")
	if err != nil {
		return ReplicaStatus{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return ReplicaStatus{}, err
	}
	if !rows.Next() {
		return ReplicaStatus{}, fmt.Errorf("replica %s: SHOW SLAVE STATUS is empty (not a replica)", r.Addr())
	}
	values := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return ReplicaStatus{}, err
	}
	field := map[string]sql.NullString{}
	for i, c := range cols {
		field[c] = values[i]
	}
	atoi := func(name string) int64 {
		v, err := strconv.ParseInt(field[name].String, 10, 64)
		if !field[name].Valid || err != nil {
			return -1
		}
		return v
	}
	st := ReplicaStatus{
		IORunning:     field["Slave_IO_Running"].String,
		SQLRunning:    field["Slave_SQL_Running"].String,
		LastIOErrno:   int(atoi("Last_IO_Errno")),
		LastIOError:   field["Last_IO_Error"].String,
		LastSQLErrno:  int(atoi("Last_SQL_Errno")),
		LastSQLError:  field["Last_SQL_Error"].String,
		SecondsBehind: atoi("Seconds_Behind_Master"),
	}
	if err := db.QueryRow("SELECT @@gtid_slave_pos").Scan(&st.SlavePos); err != nil {
		return ReplicaStatus{}, err
	}
	return st, nil
}

// WaitStatus waits until the replica's status satisfies ok.
func (r *Replica) WaitStatus(ctx context.Context, what string, ok func(ReplicaStatus) bool) error {
	var last ReplicaStatus
	var lastErr error
	for {
		st, err := r.Status()
		if err == nil && ok(st) {
			return nil
		}
		last, lastErr = st, err
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %s: waiting for %s: last status %+v (err %v)", r.Addr(), what, last, lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// StopSQLThread stops the applier: the IO thread keeps receiving the
// primary's events into the relay log, the replica's own binlog stops growing.
func (r *Replica) StopSQLThread() error { return r.Exec("STOP SLAVE SQL_THREAD") }

// StartSQLThread starts the applier again.
func (r *Replica) StartSQLThread() error { return r.Exec("START SLAVE SQL_THREAD") }

// ReplicateUntil restarts replication until the replica has applied the
// GTID position pos (MariaDB's START SLAVE UNTIL master_gtid_pos, which
// needs both threads stopped first), where it stops by itself: the replica
// then lags by exactly what the primary wrote after pos. StartReplication
// resumes it.
func (r *Replica) ReplicateUntil(pos string) error {
	return r.Exec(fmt.Sprintf("STOP SLAVE; START SLAVE UNTIL master_gtid_pos='%s'", pos))
}

// StopIOThread stops receiving from the primary; the applier drains what was
// already received.
func (r *Replica) StopIOThread() error { return r.Exec("STOP SLAVE IO_THREAD") }

// StartIOThread starts receiving from the primary again.
func (r *Replica) StartIOThread() error { return r.Exec("START SLAVE IO_THREAD") }

// StartReplication starts both threads (START SLAVE).
func (r *Replica) StartReplication() error { return r.Exec("START SLAVE") }

// Break makes replication fail with an error, as a drifted replica does in
// production: a row written on the replica alone (outside its binlog), then
// the same key written on the primary. It returns once the replica's SQL
// thread has stopped with the duplicate-key error. The replica must be
// replicating when Break is called. Repair undoes it.
func (r *Replica) Break(ctx context.Context) error {
	if err := r.Primary.Exec("CREATE DATABASE IF NOT EXISTS " + conflictSchema + "; CREATE TABLE IF NOT EXISTS " + conflictSchema + ".conflict (id BIGINT PRIMARY KEY)"); err != nil {
		return fmt.Errorf("create the conflict table on the primary: %w", err)
	}
	if err := r.WaitCaughtUp(ctx); err != nil {
		return err
	}
	id := r.conflicts.Add(1)
	// One Exec is one connection, so sql_log_bin=0 applies to the insert.
	if err := r.Exec(fmt.Sprintf("SET SESSION sql_log_bin=0; INSERT INTO %s.conflict VALUES (%d)", conflictSchema, id)); err != nil {
		return fmt.Errorf("plant the conflicting row on the replica: %w", err)
	}
	r.pending.Store(id)
	if err := r.Primary.Exec(fmt.Sprintf("INSERT INTO %s.conflict VALUES (%d)", conflictSchema, id)); err != nil {
		return fmt.Errorf("write the colliding row on the primary: %w", err)
	}
	return r.WaitStatus(ctx, "the SQL thread to stop with an error", func(st ReplicaStatus) bool {
		return st.SQLRunning == "No" && st.LastSQLErrno != 0
	})
}

// Repair removes the row Break planted and starts replication again, which
// reapplies the primary's colliding write.
func (r *Replica) Repair() error {
	id := r.pending.Swap(0)
	if id == 0 {
		return errors.New("testdb: Repair without Break")
	}
	if err := r.Exec(fmt.Sprintf("SET SESSION sql_log_bin=0; DELETE FROM %s.conflict WHERE id=%d", conflictSchema, id)); err != nil {
		return fmt.Errorf("remove the conflicting row on the replica: %w", err)
	}
	return r.StartReplication()
}

func queryString(s *Server, query string) (string, error) {
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	err = db.QueryRow(query).Scan(&v)
	return v, err
}
