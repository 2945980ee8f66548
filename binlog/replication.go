package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// ReplicationStatus is what the followed server says about its own
// replication from the primary: SHOW SLAVE STATUS (MariaDB, read as SHOW ALL
// SLAVES STATUS for the heartbeat count) or SHOW REPLICA STATUS (MySQL 8,
// plus performance_schema's heartbeat and original-commit timestamps).
type ReplicationStatus struct {
	// ReadAt is the bridge's clock just before the status was asked for.
	ReadAt time.Time
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
	// Heartbeats counts heartbeats received (MariaDB).
	Heartbeats uint64
	// LastHeartbeat is when the last heartbeat arrived (MySQL 8, replica's
	// clock); zero when unknown.
	LastHeartbeat time.Time
	// LastApplied is the primary's original commit time of the last applied
	// transaction (MySQL 8); zero when unknown.
	LastApplied time.Time
}

// IORunning and SQLRunning report whether each replication thread runs.
func (s ReplicationStatus) IORunning() bool  { return strings.EqualFold(s.IOThread, "Yes") }
func (s ReplicationStatus) SQLRunning() bool { return strings.EqualFold(s.SQLThread, "Yes") }

// Running reports whether both replication threads run.
func (s ReplicationStatus) Running() bool { return s.IORunning() && s.SQLRunning() }

// Problem says why replication cannot be vouched for ("" while both threads
// run): broken with an error, or stopped.
func (s ReplicationStatus) Problem() string {
	switch {
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

// errNotReplica: the server answered the status query with no row.
var errNotReplica = errors.New("the server is not a replica (its replica status is empty)")

// ReadReplicationStatus reads the followed server's replication status.
func ReadReplicationStatus(ctx context.Context, db *sql.DB, flavor Flavor, now func() time.Time) (ReplicationStatus, error) {
	readAt := now()
	stmts := []string{"SHOW REPLICA STATUS", "SHOW SLAVE STATUS"}
	if flavor == FlavorMariaDB {
		stmts = []string{"SHOW ALL SLAVES STATUS"}
	}
	row, err := queryFirstRow(ctx, db, stmts)
	if err != nil {
		return ReplicationStatus{}, fmt.Errorf("read the replica's replication status (needs REPLICATION CLIENT): %w", err)
	}
	if row == nil {
		return ReplicationStatus{}, errNotReplica
	}
	st, err := parseReplicationStatus(flavor, row)
	if err != nil {
		return st, err
	}
	st.ReadAt = readAt
	if flavor == FlavorMySQL {
		// Optional: without performance_schema access the proof simply
		// has no heartbeat to rest on.
		readMySQLTimestamps(ctx, db, &st)
	}
	return st, nil
}

// readMySQLTimestamps fills the heartbeat and original-commit times MySQL 8
// keeps in performance_schema for the default channel.
func readMySQLTimestamps(ctx context.Context, db *sql.DB, st *ReplicationStatus) {
	var hb, queued sql.NullTime
	if err := db.QueryRowContext(ctx, "SELECT LAST_HEARTBEAT_TIMESTAMP, LAST_QUEUED_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP "+
		"FROM performance_schema.replication_connection_status WHERE CHANNEL_NAME = ''").Scan(&hb, &queued); err == nil && hb.Valid {
		st.LastHeartbeat = hb.Time.UTC()
	}
	var applied sql.NullTime
	if err := db.QueryRowContext(ctx, "SELECT MAX(LAST_APPLIED_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP) "+
		"FROM performance_schema.replication_applier_status_by_worker WHERE CHANNEL_NAME = ''").Scan(&applied); err == nil && applied.Valid {
		st.LastApplied = applied.Time.UTC()
	}
}

// parseReplicationStatus reads one row of SHOW ALL SLAVES STATUS (MariaDB;
// the default connection's row) or SHOW REPLICA/SLAVE STATUS (MySQL), whose
// column names differ between versions (Source/Master, Replica/Slave).
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
		IOThread:  col("Replica_IO_Running", "Slave_IO_Running"),
		SQLThread: col("Replica_SQL_Running", "Slave_SQL_Running"),
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
	st.AppliedAll = appliedAll(flavor, col)
	return st, nil
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
