package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// tlsServer starts a server that requires TLS, with certificates from a CA
// of its own, and a database on it.
func tlsServer(t *testing.T) (*testdb.Certificates, *testdb.Server, *testdb.DB) {
	t.Helper()
	certs, err := testdb.NewCertificates(t.TempDir(), "store")
	if err != nil {
		testdb.Unavailable(t, err)
	}
	srv := testdb.Dedicated(t, certs.ServerOptions())
	return certs, srv, testdb.NewDBOn(t, srv)
}

// pingWith opens dsn with opts and pings it once.
func pingWith(t *testing.T, dsn string, opts ...Option) error {
	t.Helper()
	d, err := Open("-dsn", dsn, 10*time.Second, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return d.Ping(ctx)
}

func loadTLS(t *testing.T, files TLSFiles) *ClientTLS {
	t.Helper()
	c, err := LoadClientTLS(files)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A server that requires TLS is reached with -db-tls-ca, and refused with
// a sentence naming the fix without it, with another CA, or under a name
// its certificate does not carry.
func TestTLSVerifiesTheServer(t *testing.T) {
	certs, srv, tdb := tlsServer(t)
	dsn := srv.UserDSN("root", "", tdb.Name)
	good := loadTLS(t, TLSFiles{CA: certs.CA.Cert})

	if err := pingWith(t, dsn, WithTLS(good)); err != nil {
		t.Fatalf("with the server's CA: %v", err)
	}
	var cipher, value string
	d, err := Open("-dsn", dsn, 10*time.Second, WithTLS(good))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.SQL().QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&cipher, &value); err != nil || value == "" {
		t.Fatalf("the connection is not encrypted: Ssl_cipher %q (%v)", value, err)
	}
	if got := d.Config().TLS; got == nil || got.VerifyConnection == nil || got.ServerName != "127.0.0.1" {
		t.Fatalf("Config() does not carry the verified TLS configuration the binlog stream needs: %+v", got)
	}

	other, err := testdb.NewCertificates(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name string
		dsn  string
		opts []Option
		want []string
	}{
		// MariaDB 10.11 refuses a client without TLS as it refuses a wrong
		// password (1045), not with MySQL's 3159.
		{"without TLS", dsn, nil, []string{"Error 1045", "require_secure_transport=ON", "give -db-tls-ca"}},
		{"another CA", dsn, []Option{WithTLS(loadTLS(t, TLSFiles{CA: other.CA.Cert}))},
			[]string{"is not signed by the CA in -db-tls-ca " + other.CA.Cert, "give the CA that signed it"}},
		{"the system's CAs", dsn, []Option{WithTLS(loadTLS(t, TLSFiles{Cert: certs.ClientCert, Key: certs.ClientKey}))},
			[]string{"not signed by a CA this system trusts", "-db-tls-ca"}},
		{"a name the certificate lacks", strings.Replace(dsn, "127.0.0.1", "localhost", 1), []Option{WithTLS(good)},
			[]string{"not valid for localhost, the host its DSN names", "subjectAltName"}},
	}
	for _, r := range refusals {
		err := pingWith(t, r.dsn, r.opts...)
		if err == nil {
			t.Errorf("%s: connected", r.name)
			continue
		}
		for _, w := range r.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", r.name, err, w)
			}
		}
	}

	if _, err := Open("-dsn", dsn+"&tls=true", time.Second, WithTLS(good)); err == nil || !strings.Contains(err.Error(), "drop tls= from the DSN") {
		t.Errorf("a DSN with tls= and the flags: %v", err)
	}
}

// A user that REQUIRE X509 is reached with -db-tls-cert and -db-tls-key,
// and refused without them.
func TestTLSClientCertificate(t *testing.T) {
	certs, srv, tdb := tlsServer(t)
	tdb.MustExec(t, "CREATE USER 'x509user'@'127.0.0.1' IDENTIFIED BY 'x509-secret' REQUIRE X509")
	tdb.MustExec(t, "GRANT SELECT ON *.* TO 'x509user'@'127.0.0.1'")
	dsn := srv.UserDSN("x509user", "x509-secret", tdb.Name)

	err := pingWith(t, dsn, WithTLS(loadTLS(t, TLSFiles{CA: certs.CA.Cert})))
	if err == nil || !strings.Contains(err.Error(), "REQUIRE X509 (then give -db-tls-cert and -db-tls-key)") {
		t.Errorf("without a client certificate: %v", err)
	}
	if err := pingWith(t, dsn, WithTLS(loadTLS(t, TLSFiles{CA: certs.CA.Cert, Cert: certs.ClientCert, Key: certs.ClientKey}))); err != nil {
		t.Errorf("with the client certificate: %v", err)
	}
}

// Files that do not read are refused with the flag and the file, never
// their contents.
func TestTLSFilesRefused(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not-a-certificate-but-a-secret"), 0o600)
	for _, c := range []struct {
		files TLSFiles
		want  string
	}{
		{TLSFiles{Cert: notPEM}, "-db-tls-cert and -db-tls-key go together"},
		{TLSFiles{CA: filepath.Join(dir, "missing.pem")}, "-db-tls-ca: open"},
		{TLSFiles{CA: notPEM}, "-db-tls-ca " + notPEM + " holds no PEM certificate"},
		{TLSFiles{Cert: notPEM, Key: notPEM}, "-db-tls-cert " + notPEM + " with -db-tls-key " + notPEM},
	} {
		_, err := LoadClientTLS(c.files)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.files, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%+v: the error repeats the file's content: %v", c.files, err)
		}
	}
}

// Reload makes new connections use the files as they are now: a server
// whose certificate moved to another CA is reached again once the CA file
// holds the new CA, and a file that does not read keeps the previous one.
func TestTLSReloadRotatesTheCA(t *testing.T) {
	certs, srv, tdb := tlsServer(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	copyFile(t, certs.CA.Cert, caFile)
	c := loadTLS(t, TLSFiles{CA: caFile})
	d, err := Open("-dsn", srv.UserDSN("root", "", tdb.Name), 10*time.Second, WithTLS(c))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.SQL().SetMaxIdleConns(0) // every Ping makes a new connection
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// The server moves to a certificate of another CA.
	next, err := testdb.NewCA(t.TempDir(), "next")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := next.Issue("next-server", "serverAuth", "IP:127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, cert, certs.ServerCert)
	copyFile(t, key, certs.ServerKey)
	if err := srv.Exec("FLUSH SSL"); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(ctx); err == nil || !strings.Contains(err.Error(), "is not signed by the CA in -db-tls-ca") {
		t.Fatalf("a server certificate of another CA: %v", err)
	}

	copyFile(t, next.Cert, caFile)
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("after Reload with the new CA: %v", err)
	}

	os.WriteFile(caFile, nil, 0o600)
	if err := c.Reload(); err == nil {
		t.Fatal("Reload of an empty CA file succeeded")
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("a failed Reload did not keep the previous CA: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
