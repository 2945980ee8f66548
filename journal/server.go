package journal

import (
	"fmt"
	"strings"
)

// ServerIdentity names the database server a checkpoint's binlog
// coordinates belong to. Binlog file names and positions mean nothing on
// another server, so the follower compares the identity it reads from the
// server it connects to with the checkpoint's before resuming.
type ServerIdentity struct {
	// Addr is the server's host:port as the bridge's -dsn names it.
	Addr string `json:"addr"`
	// ServerID is the server's @@server_id.
	ServerID uint32 `json:"server_id"`
	// UUID is MySQL's @@server_uuid; MariaDB has none.
	UUID string `json:"uuid,omitempty"`
	// GTIDDomain is MariaDB's @@gtid_domain_id.
	GTIDDomain uint32 `json:"gtid_domain,omitempty"`
}

// Same reports whether s and o are one server. A server UUID is unique,
// so when both have one it decides alone (the address may change while the
// server stays). Otherwise all of address, server id and GTID domain must
// match: MariaDB's server ids are only unique within one replication
// topology, and treating a changed address as a change of server is the
// side that cannot lose or repeat a change.
func (s ServerIdentity) Same(o ServerIdentity) bool {
	if s.UUID != "" && o.UUID != "" {
		return strings.EqualFold(s.UUID, o.UUID)
	}
	return s.Addr == o.Addr && s.ServerID == o.ServerID && s.GTIDDomain == o.GTIDDomain && s.UUID == o.UUID
}

// String is the identity as journal stats and the logs show it, e.g.
// "127.0.0.1:3307 server_id 2 gtid_domain 0" or
// "db2:3306 server_id 2 server_uuid 3e11fa47-...".
func (s ServerIdentity) String() string {
	if s.UUID != "" {
		return fmt.Sprintf("%s server_id %d server_uuid %s", s.Addr, s.ServerID, s.UUID)
	}
	return fmt.Sprintf("%s server_id %d gtid_domain %d", s.Addr, s.ServerID, s.GTIDDomain)
}
