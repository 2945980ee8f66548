package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	bridge "github.com/automattic/jetmon-bridge"
	driver "github.com/go-sql-driver/mysql"
)

// Flavor is the replica's server family.
type Flavor string

const (
	FlavorMySQL   Flavor = "mysql"
	FlavorMariaDB Flavor = "mariadb"
)

// ServerInfo is what preflight learned about the replica.
type ServerInfo struct {
	Flavor  Flavor
	Version string
	// GTID reports whether the server assigns GTIDs the follower can resume
	// from (always on MariaDB; gtid_mode=ON on MySQL).
	GTID bool
	// RowImage is binlog_row_image (FULL or NOBLOB; MINIMAL is refused).
	RowImage string
	// Replica reports whether the server replicates from another: the
	// follower then vouches in the primary's time (see Proof).
	Replica bool
}

// Preflight checks that the replica can be followed and says exactly what
// to change when it cannot: log_bin on, ROW format, a full enough row image,
// the replication grants, no binlog filter that leaves the table out, and,
// on a server that is itself a replica, log_replica_updates so that
// replicated changes reach its binlog and no replication filter under which
// a change to jetpack_monitor_sites in the pool's database could be left out
// (filterrules.go). The follower repeats the role-dependent checks at every
// connection, and the replication watch the filter checks at every reading.
func Preflight(ctx context.Context, db *sql.DB) (ServerInfo, error) {
	var info ServerInfo
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&info.Version); err != nil {
		return info, fmt.Errorf("replica does not answer: %w", err)
	}
	info.Flavor = FlavorMySQL
	if strings.Contains(strings.ToLower(info.Version), "mariadb") {
		info.Flavor = FlavorMariaDB
	}
	vars, err := globalVariables(ctx, db, "log_bin", "binlog_format", "binlog_row_image", "gtid_mode", "log_slave_updates", "log_replica_updates",
		"binlog_row_metadata", "server_id")
	if err != nil {
		return info, err
	}
	if !isOn(vars["log_bin"]) {
		return info, errors.New("the replica's binary log is off (log_bin=OFF): start it with --log-bin (and a --server-id) so the bridge can follow it")
	}
	if f := strings.ToUpper(vars["binlog_format"]); f != "ROW" {
		return info, fmt.Errorf("the replica's binlog_format is %s: set binlog_format=ROW in its configuration (MySQL 8: SET PERSIST binlog_format='ROW') and restart replication; the bridge reads row events only", f)
	}
	info.RowImage = strings.ToUpper(vars["binlog_row_image"])
	switch info.RowImage {
	case "", "FULL", "NOBLOB", "FULL_NODUP":
		// jetpack_monitor_sites has no BLOB or TEXT column, so NOBLOB logs
		// it in full; FULL_NODUP (MariaDB 11.4) keeps the full before image.
	default:
		return info, fmt.Errorf("the replica's binlog_row_image is %s: set binlog_row_image=FULL; the bridge needs each updated row's old site_status and blog_id", info.RowImage)
	}
	warnRowMetadata(info, vars["binlog_row_metadata"])
	info.GTID = info.Flavor == FlavorMariaDB || strings.EqualFold(vars["gtid_mode"], "ON")
	if err := checkGrants(ctx, db); err != nil {
		return info, err
	}
	isReplica, err := isReplicating(ctx, db, info.Flavor)
	if err != nil {
		return info, err
	}
	info.Replica = isReplica
	if isReplica {
		if err := replicaUpdatesOn(vars); err != nil {
			return info, err
		}
	}
	return info, checkFilters(ctx, db, info, vars)
}

// errReplicaUpdatesOff: a replica that does not write what it applies
// into its own binlog.
var errReplicaUpdatesOff = errors.New("the server replicates from another but log_replica_updates (log_slave_updates) is OFF, so Jetmon's changes never reach its binlog: turn it on in its configuration and restart it")

func replicaUpdatesOn(vars map[string]string) error {
	if !isOn(vars["log_replica_updates"]) && !isOn(vars["log_slave_updates"]) {
		return errReplicaUpdatesOff
	}
	return nil
}

// checkReplicaUpdates is the replica check the follower repeats at every
// connection to a server that replicates (it may have become a replica
// since start-up).
func checkReplicaUpdates(ctx context.Context, db *sql.DB) error {
	vars, err := globalVariables(ctx, db, "log_slave_updates", "log_replica_updates")
	if err != nil {
		return err
	}
	return replicaUpdatesOn(vars)
}

// checkFilters refuses the binlog filters of the server and, on a replica,
// its replication filters, when they can leave a change to the table out.
func checkFilters(ctx context.Context, db *sql.DB, info ServerInfo, vars map[string]string) error {
	var database sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
		return fmt.Errorf("read the -dsn database: %w", err)
	}
	if !database.Valid || database.String == "" {
		return nil // no table to judge filters for: the follower is not asked to follow one
	}
	if !info.Replica {
		pos, err := CurrentPosition(ctx, db, info.Flavor)
		if err != nil {
			return err
		}
		if p := pos.Filters.LeavesOut(database.String, bridge.Table, strings.EqualFold(vars["binlog_row_metadata"], "FULL"), info.Flavor); p != nil {
			return p
		}
		return nil
	}
	st, err := ReadReplicationStatus(ctx, db, info.Flavor, nil)
	if err != nil {
		return err
	}
	id, _ := strconv.ParseUint(vars["server_id"], 10, 32)
	st.JudgeFilters(database.String, bridge.Table, uint32(id), info.Flavor)
	if st.Filtered != nil {
		return st.Filtered
	}
	return nil
}

func isOn(v string) bool { return v == "1" || strings.EqualFold(v, "ON") }

func globalVariables(ctx context.Context, db *sql.DB, names ...string) (map[string]string, error) {
	q := "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('" + strings.Join(names, "','") + "')"
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read the replica's settings: %w", err)
	}
	defer rows.Close()
	vars := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		vars[strings.ToLower(k)] = v
	}
	return vars, rows.Err()
}

// checkGrants looks for REPLICATION SLAVE and REPLICATION CLIENT (MariaDB
// 10.5 renamed the latter BINLOG MONITOR) among the current user's grants.
func checkGrants(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SHOW GRANTS FOR CURRENT_USER()")
	if err != nil {
		return fmt.Errorf("read the bridge user's grants: %w", err)
	}
	defer rows.Close()
	var slave, client bool
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return err
		}
		g = strings.ToUpper(g)
		if !strings.Contains(g, " ON *.* ") {
			continue
		}
		if strings.Contains(g, "ALL PRIVILEGES") {
			return nil
		}
		slave = slave || strings.Contains(g, "REPLICATION SLAVE") || strings.Contains(g, "REPLICATION REPLICA")
		client = client || strings.Contains(g, "REPLICATION CLIENT") || strings.Contains(g, "BINLOG MONITOR") || strings.Contains(g, "SUPER")
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var missing []string
	if !slave {
		missing = append(missing, "REPLICATION SLAVE")
	}
	if !client {
		missing = append(missing, "REPLICATION CLIENT")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the bridge's database user lacks %s: run GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO <the -dsn user> (plus SELECT on the Jetmon database) on the replica", strings.Join(missing, " and "))
	}
	return nil
}

// isReplicating reports whether the server is itself a replica.
//
// A user that may not read the replica status cannot tell, and guessing
// "not a replica" would make a lagging replica vouch for what its primary
// committed but it has not applied. MariaDB 10.5+ asks SLAVE MONITOR for
// the status, which REPLICATION CLIENT no longer includes: without it the
// bridge goes on only when the server shows no sign of ever having
// replicated (an empty gtid_slave_pos), and otherwise refuses, naming the
// grant.
func isReplicating(ctx context.Context, db *sql.DB, flavor Flavor) (bool, error) {
	stmts := []string{"SHOW REPLICA STATUS", "SHOW SLAVE STATUS"}
	grant := "REPLICATION CLIENT"
	if flavor == FlavorMariaDB {
		stmts = []string{"SHOW ALL SLAVES STATUS", "SHOW SLAVE STATUS"}
		grant = "SLAVE MONITOR"
	}
	var lastErr error
	for _, stmt := range stmts {
		rows, err := db.QueryContext(ctx, stmt)
		if err != nil {
			lastErr = err
			continue
		}
		has := rows.Next()
		rows.Close()
		return has, nil
	}
	var me *driver.MySQLError
	if !errors.As(lastErr, &me) || (me.Number != errAccessDenied && me.Number != errSpecificAccessDenied) {
		return false, fmt.Errorf("read whether the server is a replica (SHOW SLAVE STATUS): %w", lastErr)
	}
	if flavor == FlavorMariaDB {
		var pos string
		if err := db.QueryRowContext(ctx, "SELECT @@gtid_slave_pos").Scan(&pos); err == nil && pos == "" {
			return false, nil
		}
	}
	return false, fmt.Errorf("the bridge's database user may not read the server's replica status (%v), so it cannot tell whether it follows a replica and how far that replica lags: run GRANT %s ON *.* TO <the -dsn user> on the server", lastErr, grant)
}

// MySQL error numbers for a refused privilege.
const (
	errAccessDenied         = 1045
	errSpecificAccessDenied = 1227
)
