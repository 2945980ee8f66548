// Package store queries Jetmon 1's MySQL servers: the read replica for
// monitor lookups and v1 synthesis, and the primary for the write endpoints.
//
// Every session runs with time_zone '+00:00' so that TIMESTAMP values read
// back as UTC whatever the server's default zone is.
package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ParseDSN parses a go-sql-driver DSN and forces the session settings the
// bridge relies on. The error never repeats the DSN, which holds a password.
func ParseDSN(flag, dsn string) (*mysql.Config, error) {
	if dsn == "" {
		return nil, fmt.Errorf("%s is required: give a DSN such as 'user:password@tcp(replica:3306)/jetmon_db'", flag)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid DSN (expected 'user:password@tcp(host:port)/database'): %v", flag, redactErr(err))
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("%s names no database: end it with '/<jetmon database>'", flag)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	return cfg, nil
}

// redactErr returns the innermost error's message, cut to 120 bytes: the
// driver's explanation without the wrapping that quotes parts of the DSN
// back (such as "invalid dbname %q: ...").
func redactErr(err error) string {
	var s string
	for e := err; e != nil; e = errors.Unwrap(e) {
		s = e.Error()
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
