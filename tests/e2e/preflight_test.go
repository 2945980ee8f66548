package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// refusal runs the bridge and returns its exit code and stderr; start-up
// must fail before it serves anything.
func refusal(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"-addr", freeAddr(t), "-journal", filepath.Join(t.TempDir(), "j")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("bridge started where it must refuse: %s", out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func TestPreflightRefusals(t *testing.T) {
	t.Run("statement format", func(t *testing.T) {
		s := testdb.Dedicated(t, testdb.Options{BinlogFormat: "STATEMENT"})
		db := testdb.NewDBOn(t, s)
		code, out := refusal(t, "-dsn", db.DSN())
		if code == 0 || !strings.Contains(out, "binlog_format is STATEMENT") || !strings.Contains(out, "binlog_format=ROW") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("no binlog", func(t *testing.T) {
		s := testdb.Dedicated(t, testdb.Options{NoLogBin: true})
		db := testdb.NewDBOn(t, s)
		code, out := refusal(t, "-dsn", db.DSN())
		if code == 0 || !strings.Contains(out, "log_bin=OFF") || !strings.Contains(out, "--log-bin") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("minimal row image", func(t *testing.T) {
		db := testdb.NewDBOn(t, testdb.Dedicated(t, testdb.Options{Args: []string{"--binlog-row-image=MINIMAL"}}))
		code, out := refusal(t, "-dsn", db.DSN())
		if code == 0 || !strings.Contains(out, "binlog_row_image=FULL") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("no replication grant", func(t *testing.T) {
		db := testdb.NewDB(t)
		user := "norepl_" + db.Name[len(db.Name)-4:]
		db.MustExec(t, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'pw'")
		t.Cleanup(func() { db.SQL.Exec("DROP USER '" + user + "'@'%'") })
		db.MustExec(t, "GRANT SELECT ON "+db.Name+".* TO '"+user+"'@'%'")
		code, out := refusal(t, "-dsn", db.Server.UserDSN(user, "pw", db.Name))
		if code == 0 || !strings.Contains(out, "lacks REPLICATION SLAVE and REPLICATION CLIENT") || !strings.Contains(out, "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.*") {
			t.Fatalf("exit %d: %s", code, out)
		}
		if strings.Contains(out, "pw@") || strings.Contains(out, ":pw") {
			t.Fatalf("the password leaked into the error: %s", out)
		}
	})
}
