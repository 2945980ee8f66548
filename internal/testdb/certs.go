package testdb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CA is a certificate authority made with openssl for one test: its
// certificate and key are PEM files in a directory of the test's.
type CA struct {
	Name      string
	Cert, Key string
	dir       string
}

// Certificates are a CA and what it signed for a TLS test: a server
// certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1, as the DSNs
// testdb makes name the server) and a client certificate.
type Certificates struct {
	CA                    *CA
	ServerCert, ServerKey string
	ClientCert, ClientKey string
}

// NewCertificates makes a CA named name in dir and has it sign a server
// and a client certificate.
func NewCertificates(dir, name string) (*Certificates, error) {
	ca, err := NewCA(dir, name)
	if err != nil {
		return nil, err
	}
	c := &Certificates{CA: ca}
	if c.ServerCert, c.ServerKey, err = ca.Issue(name+"-server", "serverAuth", "IP:127.0.0.1"); err != nil {
		return nil, err
	}
	if c.ClientCert, c.ClientKey, err = ca.Issue(name+"-client", "clientAuth", ""); err != nil {
		return nil, err
	}
	return c, nil
}

// ServerOptions are the Options of a server that presents c's server
// certificate, trusts c's CA for client certificates and refuses TCP
// without TLS.
func (c *Certificates) ServerOptions() Options {
	return Options{SSLCA: c.CA.Cert, SSLCert: c.ServerCert, SSLKey: c.ServerKey, RequireSecureTransport: true}
}

// NewCA makes a self-signed CA in dir (created if missing).
func NewCA(dir, name string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca := &CA{Name: name, Cert: filepath.Join(dir, name+"-ca.pem"), Key: filepath.Join(dir, name+"-ca.key"), dir: dir}
	err := openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
		"-subj", "/CN="+name+" test CA", "-keyout", ca.Key, "-out", ca.Cert)
	if err != nil {
		return nil, err
	}
	return ca, nil
}

// Issue has the CA sign a new key pair for name, for the extended key
// usage use (serverAuth, clientAuth) and the subjectAltName san (none when
// empty), and returns the certificate's and the key's files.
func (ca *CA) Issue(name, use, san string) (cert, key string, err error) {
	cert, key = filepath.Join(ca.dir, name+".pem"), filepath.Join(ca.dir, name+".key")
	csr, ext := filepath.Join(ca.dir, name+".csr"), filepath.Join(ca.dir, name+".ext")
	lines := []string{"basicConstraints=CA:FALSE", "keyUsage=digitalSignature,keyEncipherment", "extendedKeyUsage=" + use}
	if san != "" {
		lines = append(lines, "subjectAltName="+san)
	}
	if err := os.WriteFile(ext, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return "", "", err
	}
	if err := openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN="+name, "-keyout", key, "-out", csr); err != nil {
		return "", "", err
	}
	if err := openssl("x509", "-req", "-in", csr, "-CA", ca.Cert, "-CAkey", ca.Key, "-CAcreateserial",
		"-days", "2", "-extfile", ext, "-out", cert); err != nil {
		return "", "", err
	}
	return cert, key, nil
}

// openssl runs Debian's openssl.
func openssl(args ...string) error {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		return fmt.Errorf("openssl not found: install it with 'apt-get install -y openssl' (TLS tests make their certificates with it): %w", err)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("openssl %s: %w\n%s", args[0], err, tail(out))
	}
	return nil
}
