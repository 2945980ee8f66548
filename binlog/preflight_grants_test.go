package binlog

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestPreflightCannotTellAReplicaWithoutTheStatusGrant connects as a user
// with the grants for following a server but not for reading its replica
// status (MariaDB 10.5+ asks SLAVE MONITOR for that). Taking the replica
// for a primary would vouch for what it has not applied, so preflight
// refuses it, naming the grant; the primary itself, which never
// replicated, is still followed; with the grant the replica is recognised.
func TestPreflightCannotTellAReplicaWithoutTheStatusGrant(t *testing.T) {
	tp := testdb.SharedTopology(t)
	db := tp.NewDB(t)
	user := "pf_" + db.Name
	if err := tp.Primary.Exec("CREATE USER '" + user + "'@'%' IDENTIFIED BY 'pw'; " +
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '" + user + "'@'%'; " +
		"GRANT SELECT ON " + db.Name + ".* TO '" + user + "'@'%'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Primary.Exec("DROP USER '" + user + "'@'%'") })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	preflight := func(s *testdb.Server) (ServerInfo, error) {
		conn, err := sql.Open("mysql", s.UserDSN(user, "pw", db.Name))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return Preflight(ctx, conn)
	}

	if _, err := preflight(tp.Replica().Server); err == nil || !strings.Contains(err.Error(), "GRANT SLAVE MONITOR ON *.*") {
		t.Errorf("replica without SLAVE MONITOR: %v, want a refusal naming GRANT SLAVE MONITOR", err)
	}
	if info, err := preflight(tp.Primary); err != nil || info.Replica {
		t.Errorf("primary without SLAVE MONITOR: %+v %v, want it followed as a primary", info, err)
	}
	if err := tp.Primary.Exec("GRANT SLAVE MONITOR ON *.* TO '" + user + "'@'%'"); err != nil {
		t.Fatal(err)
	}
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := preflight(tp.Replica().Server); err != nil || !info.Replica {
		t.Errorf("replica with SLAVE MONITOR: %+v %v, want it recognised as a replica", info, err)
	}
}
