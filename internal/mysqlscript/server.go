package mysqlscript

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	"github.com/google/uuid"
)

// Options shape a scripted server. The zero value is a MySQL 8.4 primary
// with GTIDs on, binlog_checksum=CRC32 and mysql_native_password.
type Options struct {
	// Version is what VERSION() and the handshake say ("8.4.3"). It also
	// picks the binlog status statement: SHOW BINARY LOG STATUS from 8.2,
	// SHOW MASTER STATUS before 8.4 (8.4 removed it).
	Version string
	// User and Password are the only account (default "bridge", "secret").
	User, Password string
	// CachingSHA2 authenticates with caching_sha2_password (MySQL 8's
	// default) instead of mysql_native_password; over plain TCP the client
	// then fetches the server's RSA key for its first login.
	CachingSHA2 bool
	// Database is the Jetmon database (default "jetmon_db"); it holds
	// MonitorSites.
	Database string
	// ServerID and UUID are @@server_id (default 1) and @@server_uuid
	// (default a fixed UUID derived from ServerID).
	ServerID uint32
	UUID     string
	// GTIDModeOff runs with gtid_mode=OFF: transactions get anonymous GTID
	// events, and COM_BINLOG_DUMP_GTID is refused.
	GTIDModeOff bool
	// NoChecksum runs with binlog_checksum=NONE.
	NoChecksum bool
	// HeartbeatV2 sends HEARTBEAT_LOG_EVENT_V2 whatever the client asked;
	// otherwise v2 only to a dump that set USE_HEARTBEAT_EVENT_V2 (2).
	HeartbeatV2 bool
	// Purged starts the server with these GTIDs already executed and purged
	// (the first file's Previous_gtids).
	Purged string
	// BinlogBase names the binlog files: BinlogBase.000001 (default
	// "binlog").
	BinlogBase string
}

// Server is a scripted MySQL 8 server on a loopback port. Its methods are
// safe to call from any goroutine; the builder methods (doc.go) fail the
// test on misuse and so belong to the test's goroutine.
type Server struct {
	t    testing.TB
	opts Options
	enc  encoder
	uuid uuid.UUID
	ln   net.Listener
	conf *server.Server
	auth *server.InMemoryAuthenticationHandler

	mu         sync.Mutex
	files      []*binlogFile
	executed   gtidSet
	purged     gtidSet
	changed    chan struct{} // closed when the binlog, the statement log or the heartbeats sent grow
	grown      chan struct{} // closed when the binlog grows
	closed     chan struct{}
	clock      time.Time // fixed event time (At); zero: the wall clock
	nextXID    uint64
	seq        int64 // the binlog file's logical clock
	txn        *pendingTxn
	tables     map[string]*Table
	rows       map[string]map[uint64]Row
	prepared   map[string][]rowChange // XA transactions prepared, by XID
	tableIDs   uint64
	vars       map[string]string
	answers    []answer
	log        []string
	heartbeats int // heartbeats sent by every dump
	conns      map[*conn]struct{}
	connWG     sync.WaitGroup
}

// Start runs a scripted server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(t, opts)
	if err != nil {
		t.Fatalf("start the scripted MySQL server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func start(t testing.TB, opts Options) (*Server, error) {
	if opts.Version == "" {
		opts.Version = "8.4.3"
	}
	if opts.User == "" {
		opts.User, opts.Password = "bridge", "secret"
	}
	if opts.Database == "" {
		opts.Database = "jetmon_db"
	}
	if opts.ServerID == 0 {
		opts.ServerID = 1
	}
	if opts.BinlogBase == "" {
		opts.BinlogBase = "binlog"
	}
	id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "mysqlscript server %d", opts.ServerID))
	if opts.UUID != "" {
		var err error
		if id, err = uuid.Parse(opts.UUID); err != nil {
			return nil, fmt.Errorf("Options.UUID: %w", err)
		}
	}
	purged := gtidSet{}
	if opts.Purged != "" {
		var err error
		if purged, err = parseGTIDSet(opts.Purged); err != nil {
			return nil, fmt.Errorf("Options.Purged: %w", err)
		}
	}
	method := gomysql.AUTH_NATIVE_PASSWORD
	var key *rsa.PrivateKey
	if opts.CachingSHA2 {
		method = gomysql.AUTH_CACHING_SHA2_PASSWORD
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	}
	auth := server.NewInMemoryAuthenticationHandler(method)
	if err := auth.AddUser(opts.User, opts.Password); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		t: t, opts: opts, uuid: id, ln: ln, auth: auth,
		enc:      encoder{serverID: opts.ServerID, checksum: !opts.NoChecksum},
		conf:     server.NewServer(opts.Version, gomysql.DEFAULT_COLLATION_ID, method, key, nil),
		executed: purged.clone(), purged: purged,
		changed: make(chan struct{}), grown: make(chan struct{}), closed: make(chan struct{}),
		tables: map[string]*Table{}, rows: map[string]map[uint64]Row{}, prepared: map[string][]rowChange{},
		tableIDs: 100, nextXID: 1, conns: map[*conn]struct{}{},
	}
	s.vars = s.defaultVariables()
	s.CreateTable(MonitorSites(opts.Database))
	s.mu.Lock()
	s.openFile(time.Now())
	s.mu.Unlock()
	s.connWG.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// DSN is a go-sql-driver DSN for the account and the Jetmon database.
func (s *Server) DSN() string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", s.opts.User, s.opts.Password, s.Addr(), s.opts.Database)
}

// UUID is @@server_uuid: the source of the GTIDs the server assigns itself.
func (s *Server) UUID() string { return s.uuid.String() }

// Close stops the server and drops every connection.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		return
	default:
	}
	close(s.closed)
	s.ln.Close()
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.connWG.Wait()
}

// DropConnections closes every client connection, as a network failure or
// a server restart would; the server keeps listening.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.close()
	}
}

func (s *Server) accept() {
	defer s.connWG.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.connWG.Add(1)
		go s.serve(nc)
	}
}

// serve runs one client connection: the handshake (go-mysql's server
// package), then its commands until it closes.
func (s *Server) serve(nc net.Conn) {
	defer s.connWG.Done()
	c := &conn{s: s, nc: nc, vars: map[string]string{}, done: make(chan struct{})}
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		nc.Close()
		return
	default:
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.close()
	}()
	sc, err := s.conf.NewCustomizedConn(nc, s.auth, c)
	if err != nil {
		return
	}
	c.sc = sc
	for !sc.Closed() {
		if err := sc.HandleCommand(); err != nil {
			return
		}
	}
}

// conn is one client connection's state: its user variables (the
// replication settings a dump reads) and its end.
type conn struct {
	s    *Server
	nc   net.Conn
	sc   *server.Conn
	vars map[string]string // user variables, by lower-cased name without @
	once sync.Once
	done chan struct{}
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

// The server.Handler methods.

func (c *conn) UseDB(string) error { return nil }

func (c *conn) HandleQuery(q string) (*gomysql.Result, error) { return c.s.answer(c, q, nil, false) }

func (c *conn) HandleFieldList(string, string) ([]*gomysql.Field, error) {
	return nil, gomysql.NewError(gomysql.ER_UNKNOWN_COM_ERROR, "COM_FIELD_LIST is not scripted")
}

func (c *conn) HandleStmtPrepare(q string) (int, int, any, error) {
	return countParams(q), 0, q, nil
}

func (c *conn) HandleStmtExecute(ctx any, q string, args []any) (*gomysql.Result, error) {
	for i, a := range args {
		if b, ok := a.(gomysql.TypedBytes); ok {
			args[i] = string(b.Bytes) // strings and decimals, as sent
		}
	}
	return c.s.answer(c, q, args, true)
}

func (c *conn) HandleStmtClose(any) error { return nil }

// HandleOtherCommand serves the replication commands. The server package
// would parse COM_BINLOG_DUMP for a ReplicationHandler, but drops the
// dump's flags; the server reads them itself (USE_HEARTBEAT_EVENT_V2).
func (c *conn) HandleOtherCommand(cmd byte, data []byte) error {
	switch cmd {
	case gomysql.COM_REGISTER_SLAVE:
		return nil
	case gomysql.COM_BINLOG_DUMP, gomysql.COM_BINLOG_DUMP_GTID:
		req, err := parseDump(cmd, data)
		if err != nil {
			return err
		}
		return c.dump(req)
	}
	return gomysql.NewError(gomysql.ER_UNKNOWN_COM_ERROR, fmt.Sprintf("command %d is not scripted", cmd))
}

// countParams counts the ? placeholders outside quotes.
func countParams(q string) int {
	n := 0
	var quote rune
	for _, r := range q {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"' || r == '`':
			quote = r
		case r == '?':
			n++
		}
	}
	return n
}

var errClosed = errors.New("scripted server closed")

// normalize collapses a statement's whitespace and drops a trailing ';'.
func normalize(q string) string {
	return strings.TrimSuffix(strings.Join(strings.Fields(q), " "), ";")
}
