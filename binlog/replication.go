package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// ReplicationStatus is what the followed server says about its own
// replication from the primary: SHOW ALL SLAVES STATUS (MariaDB) or SHOW
// REPLICA STATUS (MySQL 8, plus performance_schema's heartbeat and
// original-commit timestamps and filters), the replication settings that
// decide what the replica applies and in which order, and the end of its
// own binlog just before.
type ReplicationStatus struct {
	// ReadAt is the server's clock just before the status was asked for
	// (Clock: the reading, with the host's clock around it).
	ReadAt time.Time
	Clock  journal.ClockReading
	// BinlogEnd is the end of the server's own binlog, read after ReadAt
	// and before the status: every transaction before it was applied
	// before the status was read.
	BinlogEnd ServerPosition
	// Connection is the replication connection (MariaDB) or channel
	// (MySQL) the status is of: the default one, else the first listed.
	// Connections counts them.
	Connection  string
	Connections int
	// IOThread and SQLThread are Yes, No or (IO only) Connecting.
	IOThread, SQLThread string
	// IOErrno and SQLErrno are the threads' last error numbers (0: none);
	// IOError and SQLError say them as "errno: message".
	IOErrno, SQLErrno int
	IOError, SQLError string
	// Lag is Seconds_Behind_Master (Seconds_Behind_Source); LagKnown is
	// false while it is NULL (a thread stopped).
	Lag      time.Duration
	LagKnown bool
	// AppliedAll: the applier has applied everything the IO thread
	// received (GTID sets when the server reports them, else positions).
	AppliedAll bool
	// Heartbeats counts heartbeats received (MariaDB's
	// Slave_received_heartbeats, MySQL 8's COUNT_RECEIVED_HEARTBEATS).
	Heartbeats uint64
	// LastHeartbeat is when the last heartbeat arrived (MySQL 8, replica's
	// clock); zero when unknown.
	LastHeartbeat time.Time
	// IOState is what the IO thread has received, as one comparable value
	// (MySQL: its source position, received GTID set, the relay log's
	// position and size, the transaction being queued): a heartbeat that
	// leaves it unchanged carried the position the IO thread already had
	// (idleheartbeat.go). Empty when the server does not report it.
	IOState string
	// LastApplied is the primary's original commit time of the last applied
	// transaction (MySQL 8); zero when unknown.
	LastApplied time.Time

	// SourceDomains (MariaDB: the GTID domains in the connection's
	// Gtid_IO_Pos) and SourceUUIDs (MySQL: the source UUIDs in its
	// Retrieved_Gtid_Set) say where the source's transactions come from;
	// SourceKnown is false when the server reported neither.
	SourceDomains []uint32
	SourceUUIDs   []string
	SourceKnown   bool
	// Ordered reports whether the replica commits its source's transactions
	// in the source's order (no parallel applier, or one that preserves
	// commit order); Unordered says why not.
	Ordered   bool
	Unordered string
	// Filters are the replication filter sets that apply to the connection
	// (its own, the global variables, MySQL 8's performance_schema tables);
	// FullRowMetadata is binlog_row_metadata=FULL.
	Filters         []ReplicationFilters
	FullRowMetadata bool
	// Filtered is set by JudgeFilters when a filter can leave a change to
	// the followed table out.
	Filtered *FilterProblem
}

// IORunning and SQLRunning report whether each replication thread runs.
func (s ReplicationStatus) IORunning() bool  { return strings.EqualFold(s.IOThread, "Yes") }
func (s ReplicationStatus) SQLRunning() bool { return strings.EqualFold(s.SQLThread, "Yes") }

// Running reports whether both replication threads run.
func (s ReplicationStatus) Running() bool { return s.IORunning() && s.SQLRunning() }

// Problem says why replication cannot be vouched for ("" while both threads
// run without a filter that leaves the table out): filtered, broken with an
// error, or stopped.
func (s ReplicationStatus) Problem() string {
	switch {
	case s.Filtered != nil:
		return s.Filtered.Error()
	case s.SQLError != "":
		return "replication is broken: the SQL thread stopped on error " + s.SQLError
	case s.IOError != "" && !s.IORunning():
		return fmt.Sprintf("replication IO thread is %s: error %s", s.IOThread, s.IOError)
	case !s.SQLRunning():
		return "replication SQL thread is stopped (the replica does not apply the primary's changes)"
	case !s.IORunning():
		return fmt.Sprintf("replication IO thread is %s (the replica does not receive the primary's changes)", s.IOThread)
	}
	return ""
}

// JudgeFilters sets Filtered to the first filter (replication or binlog)
// that can leave a change to db.table out, nil when none can. ownServerID
// is the server's own server_id (harmless in IGNORE_SERVER_IDS).
func (s *ReplicationStatus) JudgeFilters(db, table string, ownServerID uint32, flavor Flavor) {
	s.Filtered = nil
	for i := range s.Filters {
		f := &s.Filters[i]
		f.knowsServer(ownServerID, s.SourceDomains, s.SourceKnown)
		if p := f.LeavesOut(db, table); p != nil {
			s.Filtered = p
			return
		}
	}
	s.Filtered = s.BinlogEnd.Filters.LeavesOut(db, table, s.FullRowMetadata, flavor)
}

// errNotReplica: the server answered the status query with no row.
var errNotReplica = errors.New("the server is not a replica (its replica status is empty)")

// ReadReplicationStatus reads the followed server's replication status:
// its clock, then its binlog end, then the status and the settings. host is
// the bridge host's clock, which only bounds the clock reading.
func ReadReplicationStatus(ctx context.Context, db *sql.DB, flavor Flavor, host func() time.Time) (ReplicationStatus, error) {
	host = hostClock(host)
	var st ReplicationStatus
	var err error
	if st.Clock, err = readServerClock(ctx, db, host); err != nil {
		return st, err
	}
	st.ReadAt = st.Clock.Server
	if st.BinlogEnd, err = CurrentPosition(ctx, db, flavor); err != nil {
		return st, err
	}
	stmts := []string{"SHOW REPLICA STATUS", "SHOW SLAVE STATUS"}
	if flavor == FlavorMariaDB {
		stmts = []string{"SHOW ALL SLAVES STATUS"}
	}
	rows, err := queryAllRows(ctx, db, stmts)
	if err != nil {
		return st, fmt.Errorf("read the replica's replication status (needs SLAVE MONITOR on MariaDB, REPLICATION CLIENT on MySQL): %w", err)
	}
	row := followedConnection(rows)
	if row == nil {
		return st, errNotReplica
	}
	clock, end := st.Clock, st.BinlogEnd
	if st, err = parseReplicationStatus(flavor, row); err != nil {
		return st, err
	}
	st.Clock, st.ReadAt, st.BinlogEnd, st.Connections = clock, clock.Server, end, len(rows)
	if err := readReplicationSettings(ctx, db, flavor, &st); err != nil {
		return st, err
	}
	if flavor == FlavorMySQL {
		// Optional: without performance_schema access the proof simply
		// has no heartbeat to rest on.
		readMySQLTimestamps(ctx, db, &st)
	}
	return st, nil
}

// followedConnection picks the replication connection the bridge follows
// from the rows of a status query: the default one (MariaDB's empty
// Connection_name, MySQL's empty Channel_Name), else the first listed.
func followedConnection(rows []map[string]string) map[string]string {
	for _, r := range rows {
		if r["connection_name"] == "" && r["channel_name"] == "" {
			return r
		}
	}
	if len(rows) > 0 {
		return rows[0]
	}
	return nil
}

// ioState is the IO thread's state as MySQL's status row shows it (see
// ReplicationStatus.IOState); "" without its source position.
func ioState(col func(...string) string) string {
	file, pos := col("Source_Log_File", "Master_Log_File"), col("Read_Source_Log_Pos", "Read_Master_Log_Pos")
	if file == "" || pos == "" {
		return ""
	}
	return strings.Join([]string{file, pos, strings.ReplaceAll(col("Retrieved_Gtid_Set"), "\n", ""),
		col("Relay_Log_File"), col("Relay_Log_Pos"), col("Relay_Log_Space")}, "|")
}

// readMySQLTimestamps fills the heartbeats (count and last time) and the
// original-commit time MySQL 8 keeps in performance_schema for the
// followed channel. It runs after the status row is read: the heartbeats
// it counts fall after the IO thread's state that row showed
// (idleheartbeat.go). The transaction being queued joins that state.
func readMySQLTimestamps(ctx context.Context, db *sql.DB, st *ReplicationStatus) {
	var count sql.NullInt64
	var hb sql.NullTime
	var queueing sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT COUNT_RECEIVED_HEARTBEATS, LAST_HEARTBEAT_TIMESTAMP, QUEUEING_TRANSACTION "+
		"FROM performance_schema.replication_connection_status WHERE CHANNEL_NAME = ?", st.Connection).Scan(&count, &hb, &queueing); err == nil && hb.Valid && count.Valid {
		st.LastHeartbeat, st.Heartbeats = hb.Time.UTC(), uint64(count.Int64)
		if st.IOState != "" {
			st.IOState += "|" + queueing.String
		}
	}
	var applied sql.NullTime
	if err := db.QueryRowContext(ctx, "SELECT MAX(LAST_APPLIED_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP) "+
		"FROM performance_schema.replication_applier_status_by_worker WHERE CHANNEL_NAME = ?", st.Connection).Scan(&applied); err == nil && applied.Valid {
		st.LastApplied = applied.Time.UTC()
	}
}

// parseReplicationStatus reads one row of SHOW ALL SLAVES STATUS (MariaDB)
// or SHOW REPLICA/SLAVE STATUS (MySQL), whose column names differ between
// versions (Source/Master, Replica/Slave).
func parseReplicationStatus(flavor Flavor, row map[string]string) (ReplicationStatus, error) {
	col := func(names ...string) string {
		for _, n := range names {
			if v, ok := row[strings.ToLower(n)]; ok {
				return v
			}
		}
		return ""
	}
	st := ReplicationStatus{
		Connection: col("Connection_name", "Channel_Name"),
		IOThread:   col("Replica_IO_Running", "Slave_IO_Running"),
		SQLThread:  col("Replica_SQL_Running", "Slave_SQL_Running"),
	}
	if st.IOThread == "" || st.SQLThread == "" {
		return st, errors.New("the replica status has no IO/SQL thread columns")
	}
	lastError := func(errnoCol, msgCol string) (int, string) {
		n, _ := strconv.Atoi(col(errnoCol))
		if n == 0 {
			return 0, ""
		}
		return n, strconv.Itoa(n) + ": " + col(msgCol)
	}
	st.IOErrno, st.IOError = lastError("Last_IO_Errno", "Last_IO_Error")
	st.SQLErrno, st.SQLError = lastError("Last_SQL_Errno", "Last_SQL_Error")
	if s := col("Seconds_Behind_Source", "Seconds_Behind_Master"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			st.Lag, st.LagKnown = time.Duration(n)*time.Second, true
		}
	}
	if s := col("Slave_received_heartbeats"); s != "" {
		st.Heartbeats, _ = strconv.ParseUint(s, 10, 64)
	}
	if flavor == FlavorMySQL {
		st.IOState = ioState(col)
	}
	st.AppliedAll = appliedAll(flavor, col)
	st.SourceDomains, st.SourceUUIDs, st.SourceKnown = sourceOf(flavor, col)
	// The connection's own filters, as its status row prints them.
	f := ReplicationFilters{Where: connectionName(flavor, st.Connection), Flavor: flavor, Connection: st.Connection}
	for _, c := range []struct{ column, setting string }{
		{"Replicate_Do_DB", settingDoDB}, {"Replicate_Ignore_DB", settingIgnoreDB},
		{"Replicate_Do_Table", settingDoTable}, {"Replicate_Ignore_Table", settingIgnoreTable},
		{"Replicate_Wild_Do_Table", settingWildDoTable}, {"Replicate_Wild_Ignore_Table", settingWildIgnoreTable},
		{"Replicate_Rewrite_DB", settingRewriteDB},
		{"Replicate_Do_Domain_Ids", settingDoDomainIDs}, {"Replicate_Ignore_Domain_Ids", settingIgnoreDomainIDs},
		{"Replicate_Ignore_Server_Ids", settingIgnoreServerIDs},
	} {
		f.set(c.setting, col(c.column))
	}
	st.Filters = append(st.Filters, f)
	// MariaDB's per-connection parallel mode; the thread count is global.
	if flavor == FlavorMariaDB && strings.EqualFold(col("Parallel_Mode"), "none") {
		st.Ordered = true
	}
	return st, nil
}

func connectionName(flavor Flavor, c string) string {
	if flavor == FlavorMySQL {
		return fmt.Sprintf("replication channel '%s'", c)
	}
	return fmt.Sprintf("replication connection '%s'", c)
}

// sourceOf reads where the connection's transactions come from: the GTID
// domains of MariaDB's Gtid_IO_Pos, the source UUIDs of MySQL's
// Retrieved_Gtid_Set.
func sourceOf(flavor Flavor, col func(...string) string) ([]uint32, []string, bool) {
	if flavor == FlavorMariaDB {
		pos := col("Gtid_IO_Pos")
		set, err := mysql.ParseMariadbGTIDSet(pos)
		if err != nil || pos == "" {
			return nil, nil, false
		}
		var domains []uint32
		for d := range set.(*mysql.MariadbGTIDSet).Sets {
			domains = append(domains, d)
		}
		slices.Sort(domains)
		return domains, nil, true
	}
	received := strings.ReplaceAll(col("Retrieved_Gtid_Set"), "\n", "")
	set, err := mysql.ParseMysqlGTIDSet(received)
	if err != nil || received == "" {
		return nil, nil, false
	}
	var uuids []string
	for sid := range *set.(*mysql.MysqlGTIDSet) {
		uuids = append(uuids, strings.ToLower(sid.String()))
	}
	slices.Sort(uuids)
	return nil, uuids, true
}

// readReplicationSettings reads the global settings the status row does not
// carry: the global filter variables (MariaDB's apply to the default
// connection; MySQL 8's performance_schema lists every channel's filters and
// the global ones), the parallel applier's settings, and
// binlog_row_metadata.
func readReplicationSettings(ctx context.Context, db *sql.DB, flavor Flavor, st *ReplicationStatus) error {
	names := []string{"binlog_row_metadata"}
	if flavor == FlavorMariaDB {
		names = append(names, settingDoDB, settingIgnoreDB, settingDoTable, settingIgnoreTable, settingWildDoTable,
			settingWildIgnoreTable, settingRewriteDB, settingMarkedForSkip, "slave_parallel_threads", "slave_domain_parallel_threads")
	} else {
		names = append(names, "replica_parallel_workers", "slave_parallel_workers", "replica_preserve_commit_order", "slave_preserve_commit_order")
	}
	vars, err := globalVariables(ctx, db, names...)
	if err != nil {
		return err
	}
	st.FullRowMetadata = strings.EqualFold(vars["binlog_row_metadata"], "FULL")
	if flavor == FlavorMariaDB {
		if st.Connection == "" {
			// The global variables are the default connection's filters.
			g := ReplicationFilters{Where: "global variables", Flavor: flavor}
			for _, s := range []string{settingDoDB, settingIgnoreDB, settingDoTable, settingIgnoreTable, settingWildDoTable, settingWildIgnoreTable, settingRewriteDB} {
				g.set(s, vars[s])
			}
			st.Filters = append(st.Filters, g)
		}
		// Events marked @@skip_replication are dropped by every connection.
		st.Filters[0].set(settingMarkedForSkip, vars[settingMarkedForSkip])
		threads, _ := strconv.Atoi(vars["slave_parallel_threads"])
		switch {
		case st.Ordered || threads == 0 || len(st.SourceDomains) <= 1 && st.SourceKnown:
			st.Ordered = true
		default:
			// Parallel replication commits in order within a GTID domain
			// only: across domains a later transaction may commit first.
			st.Unordered = fmt.Sprintf("slave_parallel_threads=%d applies the source's %d GTID domains in parallel, so the replica may commit them out of order", threads, len(st.SourceDomains))
			if !st.SourceKnown {
				st.Unordered = fmt.Sprintf("slave_parallel_threads=%d and the connection's GTID domains are unknown", threads)
			}
		}
		return nil
	}
	workers, _ := strconv.Atoi(firstOf(vars, "replica_parallel_workers", "slave_parallel_workers"))
	preserve := isOn(firstOf(vars, "replica_preserve_commit_order", "slave_preserve_commit_order"))
	st.Ordered = workers <= 1 || preserve
	if !st.Ordered {
		st.Unordered = fmt.Sprintf("replica_parallel_workers=%d with replica_preserve_commit_order=OFF lets the replica commit its source's transactions out of order", workers)
	}
	readMySQLFilters(ctx, db, st)
	return nil
}

func firstOf(vars map[string]string, names ...string) string {
	for _, n := range names {
		if v, ok := vars[n]; ok {
			return v
		}
	}
	return ""
}

// readMySQLFilters adds MySQL 8's performance_schema filter tables: the
// followed channel's filters and the global ones. Without access to
// performance_schema the status row's columns, which show the channel's
// filters, are all the bridge judges.
func readMySQLFilters(ctx context.Context, db *sql.DB, st *ReplicationStatus) {
	channel := ReplicationFilters{Where: "performance_schema.replication_applier_filters, channel '" + st.Connection + "'", Flavor: FlavorMySQL, Connection: st.Connection}
	if rows, err := queryRows(ctx, db, "SELECT CHANNEL_NAME, FILTER_NAME, FILTER_RULE FROM performance_schema.replication_applier_filters"); err == nil {
		for _, r := range rows {
			if r["channel_name"] == st.Connection {
				channel.set(strings.ToLower(r["filter_name"]), r["filter_rule"])
			}
		}
		st.Filters = append(st.Filters, channel)
	}
	global := ReplicationFilters{Where: "performance_schema.replication_applier_global_filters", Flavor: FlavorMySQL, Global: true}
	if rows, err := queryRows(ctx, db, "SELECT FILTER_NAME, FILTER_RULE FROM performance_schema.replication_applier_global_filters"); err == nil {
		for _, r := range rows {
			global.set(strings.ToLower(r["filter_name"]), r["filter_rule"])
		}
		st.Filters = append(st.Filters, global)
	}
}

// appliedAll compares what the applier executed with what the IO thread
// received: GTID sets when the server reports both, else binlog positions.
func appliedAll(flavor Flavor, col func(...string) string) bool {
	received, executed := col("Retrieved_Gtid_Set"), col("Executed_Gtid_Set")
	gtidFlavor := mysql.MySQLFlavor
	if flavor == FlavorMariaDB {
		received, executed, gtidFlavor = col("Gtid_IO_Pos"), col("Gtid_Slave_Pos"), mysql.MariaDBFlavor
	}
	if received != "" {
		r, rerr := mysql.ParseGTIDSet(gtidFlavor, strings.ReplaceAll(received, "\n", ""))
		e, eerr := mysql.ParseGTIDSet(gtidFlavor, strings.ReplaceAll(executed, "\n", ""))
		return rerr == nil && eerr == nil && e.Contain(r)
	}
	readFile, execFile := col("Source_Log_File", "Master_Log_File"), col("Relay_Source_Log_File", "Relay_Master_Log_File")
	readPos, execPos := col("Read_Source_Log_Pos", "Read_Master_Log_Pos"), col("Exec_Source_Log_Pos", "Exec_Master_Log_Pos")
	return readFile != "" && readFile == execFile && readPos == execPos
}
