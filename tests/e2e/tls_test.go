package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// tlsBridgeUser is the bridge's account on a TLS chain: it must present a
// client certificate (REQUIRE X509) and holds the grants of
// docs/operations.md, "The bridge's database user".
const (
	tlsBridgeUser     = "bridge_tls"
	tlsBridgePassword = "tls-pw-Zq81xV"
)

// tlsChain is a primary -> replica chain whose servers require TLS with
// certificates of the test's own CA, and the bridge's account on it.
func tlsChain(t *testing.T) (*testdb.Certificates, *testdb.Topology, *testdb.DB) {
	t.Helper()
	certs, err := testdb.NewCertificates(t.TempDir(), "e2e")
	if err != nil {
		testdb.Unavailable(t, err)
	}
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{TLS: certs})
	db := tp.NewDB(t)
	account := fmt.Sprintf("'%s'@'127.0.0.1'", tlsBridgeUser)
	db.MustExec(t, fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s' REQUIRE X509", account, tlsBridgePassword))
	db.MustExec(t, "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SLAVE MONITOR, SELECT ON *.* TO "+account)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	return certs, tp, db
}

// tlsDSN is the bridge account's DSN on s, without any TLS parameter: the
// -db-tls-* flags turn TLS on.
func tlsDSN(s *testdb.Server, db string) string {
	return s.UserDSN(tlsBridgeUser, tlsBridgePassword, db)
}

// TestHistoryIsExactOverTLS follows a replica that requires TLS (its
// primary too) with -db-tls-ca, -db-tls-cert and -db-tls-key: the replica
// pool, the binlog stream and the -primary-dsn pool of the exact proof all
// connect with the client certificate the account requires, and a storm on
// the primary is journaled exactly. No log line carries key material or
// the password; SIGHUP re-reads the files without restarting the follower.
func TestHistoryIsExactOverTLS(t *testing.T) {
	certs, tp, db := tlsChain(t)
	sites := setupSites(t, db, 25000, 30)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", tlsDSN(tp.Replica().Server, db.Name), "-primary-dsn", tlsDSN(tp.Primary, db.Name),
		"-db-tls-ca", certs.CA.Cert, "-db-tls-cert", certs.ClientCert, "-db-tls-key", certs.ClientKey,
		"-journal", journal, "-monitor-interval", "200ms")
	if !contains(d.log.String(), "coverage_proof=primary-gtid") {
		t.Fatalf("the bridge did not choose the primary's GTID proof (-primary-dsn over TLS):\n%s", d.log)
	}
	since := coveredFrom()
	o := stormOptions
	o.Transitions, o.Rate, o.Seed = 1500, 1000, 25
	truth := storm(t, db, sites, o)
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := compare(t, d, truth, since, time.Now().Add(time.Hour), "journal"); n != len(truth) {
		t.Fatalf("compared %d events, truth has %d", n, len(truth))
	}

	// SIGHUP re-reads the TLS files; the follower goes on.
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the TLS files to be re-read", time.Minute, func() bool {
		return d.log.Count("SIGHUP: MySQL TLS files re-read") == 1
	})
	o.Transitions, o.Seed = 300, 26
	truth = append(truth, storm(t, db, sites, o)...)
	if n := compare(t, d, truth, since, time.Now().Add(time.Hour), "journal"); n != len(truth) {
		t.Fatalf("after SIGHUP: compared %d events, truth has %d", n, len(truth))
	}
	if n := d.log.Count("coverage span started"); n != 1 {
		t.Errorf("%d coverage spans started: the follower restarted", n)
	}
	d.stop()
	expectNoSecrets(t, d.log.String(), certs, tlsBridgePassword)
}

// TestTLSStartupRefusals: against a replica that requires TLS, start-up
// without TLS, with another CA, or under a name the certificate does not
// carry ends with a sentence naming the fix, and no key material.
func TestTLSStartupRefusals(t *testing.T) {
	certs, tp, db := tlsChain(t)
	replica := tp.Replica().Server
	dsn := tlsDSN(replica, db.Name)
	other, err := testdb.NewCertificates(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	client := []string{"-db-tls-cert", certs.ClientCert, "-db-tls-key", certs.ClientKey}
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"without TLS", []string{"-dsn", dsn}, 1,
			[]string{"replica (-dsn)", "require_secure_transport=ON", "give -db-tls-ca"}},
		{"another CA", append([]string{"-dsn", dsn, "-db-tls-ca", other.CA.Cert}, client...), 1,
			[]string{"replica (-dsn)", "is not signed by the CA in -db-tls-ca " + other.CA.Cert, "give the CA that signed it"}},
		{"a name the certificate lacks", append([]string{"-dsn", strings.Replace(dsn, "127.0.0.1", "localhost", 1), "-db-tls-ca", certs.CA.Cert}, client...), 1,
			[]string{"not valid for localhost, the host its DSN names"}},
		{"no client certificate", []string{"-dsn", dsn, "-db-tls-ca", certs.CA.Cert}, 1,
			[]string{"REQUIRE X509 (then give -db-tls-cert and -db-tls-key)"}},
		{"the primary under a name its certificate lacks", append([]string{"-dsn", dsn, "-db-tls-ca", certs.CA.Cert,
			"-primary-dsn", strings.Replace(tlsDSN(tp.Primary, db.Name), "127.0.0.1", "localhost", 1)}, client...), 1,
			[]string{"-primary-dsn", "not valid for localhost, the host its DSN names"}},
		{"tls= in the DSN too", append([]string{"-dsn", dsn + "&tls=true", "-db-tls-ca", certs.CA.Cert}, client...), 1,
			[]string{"drop tls= from the DSN"}},
		{"a key without its certificate", []string{"-dsn", dsn, "-db-tls-key", certs.ClientKey}, 2,
			[]string{"-db-tls-cert and -db-tls-key go together"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := refusal(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d: %s", code, c.code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("the output does not say %q:\n%s", w, out)
				}
			}
			expectNoSecrets(t, out, certs, tlsBridgePassword)
		})
	}
}

// expectNoSecrets fails t when out holds the password or a line of any
// PEM body of certs' files: keys above all, certificates as well, as none
// belongs in a log.
func expectNoSecrets(t *testing.T, out string, certs *testdb.Certificates, password string) {
	t.Helper()
	if strings.Contains(out, password) {
		t.Errorf("the output holds the database password")
	}
	if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Errorf("the output holds a PEM block")
	}
	for _, file := range []string{certs.ClientKey, certs.ServerKey, certs.CA.Key, certs.ClientCert, certs.CA.Cert} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(out, line) {
				t.Errorf("the output holds a line of %s", file)
			}
		}
		f.Close()
	}
}
