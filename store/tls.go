package store

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
)

// The daemon's flags for TLS to MySQL; messages name them so that an
// operator knows what to set.
const (
	TLSCAFlag   = "-db-tls-ca"
	TLSCertFlag = "-db-tls-cert"
	TLSKeyFlag  = "-db-tls-key"
)

// TLSFiles are the PEM files of the bridge's TLS to its MySQL servers: CA
// is the certificate (or bundle) of the authority that signs the servers'
// certificates, empty for the system's roots; Cert and Key are the client
// certificate and its key, both or neither, for servers that require one
// (REQUIRE X509).
type TLSFiles struct {
	CA, Cert, Key string
}

// ClientTLS is the bridge's TLS to every MySQL server it talks to: the
// replica pool, the primary pool and the binlog stream alike, each
// verifying that the server's certificate names the host of its own DSN.
//
// The files are read by LoadClientTLS and again by Reload (the daemon calls
// it on SIGHUP). Every handshake takes what was read last, so connections
// opened after a Reload use the new files while open ones keep theirs: a
// CA or a client certificate is rotated without a restart.
type ClientTLS struct {
	files   TLSFiles
	current atomic.Pointer[tlsMaterial]
}

// tlsMaterial is one reading of the files.
type tlsMaterial struct {
	roots *x509.CertPool   // nil: the system's roots
	cert  *tls.Certificate // nil: no client certificate
}

// LoadClientTLS reads the files. Errors name the flag and the file, never
// the files' contents.
func LoadClientTLS(files TLSFiles) (*ClientTLS, error) {
	if (files.Cert == "") != (files.Key == "") {
		return nil, fmt.Errorf("%s and %s go together: give the client certificate and its key, or neither", TLSCertFlag, TLSKeyFlag)
	}
	c := &ClientTLS{files: files}
	m, err := files.read()
	if err != nil {
		return nil, err
	}
	c.current.Store(m)
	return c, nil
}

// Files are the files c reads.
func (c *ClientTLS) Files() TLSFiles { return c.files }

// Reload reads the files again; connections opened from now on use them.
// On an error the files read before stay in use.
func (c *ClientTLS) Reload() error {
	m, err := c.files.read()
	if err != nil {
		return err
	}
	c.current.Store(m)
	return nil
}

func (f TLSFiles) read() (*tlsMaterial, error) {
	m := &tlsMaterial{}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", TLSCAFlag, err)
		}
		m.roots = x509.NewCertPool()
		if !m.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s holds no PEM certificate: give the CA certificate that signs the servers' certificates", TLSCAFlag, f.CA)
		}
	}
	if f.Cert != "" {
		// The errors of X509KeyPair describe the PEM blocks, never their
		// bytes.
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("%s %s with %s %s: %w", TLSCertFlag, f.Cert, TLSKeyFlag, f.Key, err)
		}
		m.cert = &cert
	}
	return m, nil
}

// Config returns the TLS configuration of connections to the server a DSN
// names by host. The standard verification is replaced by verify, which
// does the same checks against the CA read last (chain to the CA, validity
// dates, server authentication, the certificate naming host): tls.Config
// fixes its roots when it is made, and the roots must follow Reload.
func (c *ClientTLS) Config(host string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: host,
		// Not skipped: VerifyConnection verifies every handshake, with
		// the roots of the latest Reload.
		InsecureSkipVerify: true,
		VerifyConnection:   c.verifier(host),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if m := c.current.Load(); m.cert != nil {
				return m.cert, nil
			}
			return &tls.Certificate{}, nil // none: the server decides whether it needs one
		},
	}
}

// verifier checks a server's certificate chain and name as crypto/tls does
// by default, against the CA read last, and explains a refusal.
func (c *ClientTLS) verifier(host string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("the MySQL server at %s presented no TLS certificate", host)
		}
		opts := x509.VerifyOptions{
			DNSName:       host,
			Roots:         c.current.Load().roots,
			Intermediates: x509.NewCertPool(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		if err != nil {
			return c.explainVerify(host, err)
		}
		return nil
	}
}

// explainVerify says what to change when a server's certificate is refused.
func (c *ClientTLS) explainVerify(host string, err error) error {
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown) && c.files.CA != "":
		return fmt.Errorf("the certificate of the MySQL server at %s is not signed by the CA in %s %s: give the CA that signed it (the server's ssl_ca) with %s: %w",
			host, TLSCAFlag, c.files.CA, TLSCAFlag, err)
	case errors.As(err, &unknown):
		return fmt.Errorf("the certificate of the MySQL server at %s is not signed by a CA this system trusts: give the CA that signed it (the server's ssl_ca) with %s: %w",
			host, TLSCAFlag, err)
	case errors.As(err, &name):
		return fmt.Errorf("the certificate of the MySQL server is not valid for %s, the host its DSN names: connect by a name the certificate carries, or reissue it with subjectAltName for %s: %w",
			host, host, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("the certificate of the MySQL server at %s is not acceptable (expired, or not for servers?): renew it: %w", host, err)
	}
	return fmt.Errorf("verify the certificate of the MySQL server at %s: %w", host, err)
}

// useTLS makes every connection of cfg use c: it refuses a DSN that sets
// TLS itself (tls=...), so there is one way to configure it, and registers
// the configuration with the driver under a name of flag's, so that the
// DSN cfg formats names it.
func useTLS(flag string, cfg *mysql.Config, c *ClientTLS) error {
	if cfg.TLSConfig != "" {
		return fmt.Errorf("%s sets tls=%s while %s, %s or %s is given: drop tls= from the DSN, the flags set TLS for every DSN",
			flag, cfg.TLSConfig, TLSCAFlag, TLSCertFlag, TLSKeyFlag)
	}
	if cfg.Net != "tcp" {
		return nil // a unix socket is local: there is no server name to verify
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		host = cfg.Addr
	}
	tc := c.Config(host)
	name := "jetmon-bridge" + flag
	if err := mysql.RegisterTLSConfig(name, tc); err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	cfg.TLSConfig, cfg.TLS = name, tc
	return nil
}

// Errors a server answers a connection without TLS with when it requires
// TLS (require_secure_transport=ON): MySQL says so
// (ER_SECURE_TRANSPORT_REQUIRED); MariaDB 10.11 answers access denied, as
// for a wrong password.
const (
	erInsecureTransport = 3159
	erAccessDenied      = 1045
)

// explainConnect adds to a failed connection attempt's error what to change
// when the cause may be TLS: a server that requires it, or one that offers
// none. Certificate refusals are explained by the verifier already.
func explainConnect(flag string, tlsGiven bool, err error) error {
	var myErr *mysql.MySQLError
	isMySQL := errors.As(err, &myErr)
	switch {
	case isMySQL && myErr.Number == erInsecureTransport && !tlsGiven:
		return fmt.Errorf("the server requires TLS (require_secure_transport=ON) and %s connects without it: give %s with the CA that signed the server's certificate "+
			"(and %s, %s when its user REQUIRE X509): %w", flag, TLSCAFlag, TLSCertFlag, TLSKeyFlag, err)
	case isMySQL && myErr.Number == erAccessDenied && !tlsGiven:
		return fmt.Errorf("%w: check the user and password of %s; a MariaDB server that requires TLS (require_secure_transport=ON) refuses a connection without it "+
			"this way too: then give %s with the CA that signed the server's certificate", err, flag, TLSCAFlag)
	case isMySQL && myErr.Number == erAccessDenied:
		return fmt.Errorf("%w: check the user and password of %s, and whether its user REQUIRE X509 (then give %s and %s)", err, flag, TLSCertFlag, TLSKeyFlag)
	case errors.Is(err, mysql.ErrNoTLS):
		return fmt.Errorf("%s: the server offers no TLS: enable it there (ssl_cert, ssl_key), or drop %s, %s and %s: %w",
			flag, TLSCAFlag, TLSCertFlag, TLSKeyFlag, err)
	}
	return err
}
