package main

import (
	"flag"

	"github.com/automattic/jetmon-bridge/store"
)

// dbTLSFlags are -db-tls-ca, -db-tls-cert and -db-tls-key: TLS to every
// MySQL server the daemon talks to (-dsn, -primary-dsn, -write-dsn, and the
// binlog stream), each verified to be the host its DSN names.
type dbTLSFlags struct {
	files store.TLSFiles
	// tls is what the files hold; nil when none is given (a DSN may still
	// ask for TLS with the system's roots, ?tls=true).
	tls *store.ClientTLS
}

func (d *dbTLSFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&d.files.CA, store.TLSCAFlag[1:], "", "PEM file of the CA that signs the MySQL servers' certificates; turns on verified TLS for every DSN (empty with -db-tls-cert: the system's CAs)")
	fs.StringVar(&d.files.Cert, store.TLSCertFlag[1:], "", "PEM client certificate for MySQL (with -db-tls-key), for users that REQUIRE X509")
	fs.StringVar(&d.files.Key, store.TLSKeyFlag[1:], "", "PEM key of the MySQL client certificate")
}

// load reads the files when any is given.
func (d *dbTLSFlags) load() error {
	if d.files == (store.TLSFiles{}) {
		return nil
	}
	c, err := store.LoadClientTLS(d.files)
	if err != nil {
		return usageError{err}
	}
	d.tls = c
	return nil
}

// options are store.Open's options for every DSN.
func (d *dbTLSFlags) options() []store.Option {
	if d.tls == nil {
		return nil
	}
	return []store.Option{store.WithTLS(d.tls)}
}
