package testdb

import (
	"database/sql"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testenv"
)

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	dbCounter  atomic.Int64

	sharedTopologyOnce sync.Once
	sharedTopology     *Topology
	sharedTopologyErr  error
)

// Main runs a package's tests and closes the shared server afterwards. Call
// it from TestMain: os.Exit(testdb.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	if sharedTopology != nil {
		sharedTopology.Close()
	}
	return code
}

// Unavailable ends t when no server can be had: a skip on a developer's
// machine, a failure under CI=true.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	testenv.Missing(t, "no MariaDB server for this test (apt-get install mariadb-server): %v", err)
}

// Shared returns the test binary's shared server, starting it on first use.
// Tests that stop, kill or reconfigure a server use Dedicated instead.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start(Options{}) })
	if sharedErr != nil {
		Unavailable(t, sharedErr)
	}
	return shared
}

// Dedicated starts a server for t alone and closes it when t ends.
func Dedicated(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		Unavailable(t, err)
	}
	t.Cleanup(s.Close)
	return s
}

// SharedTopology returns the test binary's shared primary -> replica chain
// (one replica), starting it on first use. Tests on it must leave replication
// running; tests that stop, break or restart a server use DedicatedTopology.
func SharedTopology(t testing.TB) *Topology {
	t.Helper()
	sharedTopologyOnce.Do(func() { sharedTopology, sharedTopologyErr = StartTopology(TopologyOptions{}) })
	if sharedTopologyErr != nil {
		Unavailable(t, sharedTopologyErr)
	}
	return sharedTopology
}

// DedicatedTopology starts a primary -> replicas chain for t alone and closes
// it when t ends.
func DedicatedTopology(t testing.TB, opts TopologyOptions) *Topology {
	t.Helper()
	tp, err := StartTopology(opts)
	if err != nil {
		Unavailable(t, err)
	}
	t.Cleanup(tp.Close)
	return tp
}

// DB is a database of its own for one test, holding Jetmon 1's table.
type DB struct {
	Server *Server
	Name   string
	// SQL is a root connection pool on the database.
	SQL *sql.DB
}

// DSN is a root DSN on the database.
func (d *DB) DSN() string { return d.Server.DSN(d.Name) }

// NewDB creates a fresh database with Jetmon 1's schema on the shared server
// and drops it when t ends.
func NewDB(t testing.TB) *DB { return NewDBOn(t, Shared(t)) }

// NewDBOn is NewDB on a given server.
func NewDBOn(t testing.TB, s *Server) *DB {
	t.Helper()
	name := fmt.Sprintf("jetmon_%d_%d", os.Getpid(), dbCounter.Add(1))
	if err := s.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	db, err := sql.Open("mysql", s.DSN(name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(bridge.Schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		s.Exec("DROP DATABASE IF EXISTS " + name)
	})
	return &DB{Server: s, Name: name, SQL: db}
}

// MustExec runs a statement on the database or fails t.
func (d *DB) MustExec(t testing.TB, query string, args ...any) sql.Result {
	t.Helper()
	res, err := d.SQL.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}
