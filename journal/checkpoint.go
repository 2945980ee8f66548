package journal

import (
	"fmt"
	"slices"
	"strings"
)

// Checkpoint is a binlog position the follower can resume from, with what
// it needs to decode what follows.
type Checkpoint struct {
	// Flavor is "mysql" or "mariadb".
	Flavor string `json:"flavor"`
	// File and Pos are the binlog coordinates after the last transaction.
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
	// GTIDSet is the executed GTID set in the flavor's syntax, when the
	// server has GTIDs; resuming prefers it over File/Pos.
	GTIDSet string `json:"gtid_set,omitempty"`
	// Columns is the table's column layout at this position, so rows that
	// follow decode correctly after an ALTER TABLE; empty when it is not
	// known here (a statement that may have changed it lies before), and
	// the follower proves one before it decodes a row by it
	// (binlog/layoutproof.go).
	Columns []string `json:"columns,omitempty"`
	// Server is the server File and Pos belong to. Checkpoints written
	// before the bridge recorded it have none; the follower then assumes
	// the server it connects to and records it at its next commit.
	Server *ServerIdentity `json:"server,omitempty"`
	// Prepared are the XA transactions prepared before this position and
	// not yet committed or rolled back, with their changes (prepared.go).
	Prepared []PreparedXA `json:"prepared_xa,omitempty"`
}

// Clone returns a copy that shares nothing with c.
func (c Checkpoint) Clone() Checkpoint {
	c.Columns = slices.Clone(c.Columns)
	c.Prepared = clonePrepared(c.Prepared)
	if c.Server != nil {
		id := *c.Server
		c.Server = &id
	}
	return c
}

// String shows the coordinates: "file:pos", then " gtid SET" when there is
// a GTID set, " on SERVER" when the server is known, and " with N prepared
// XA" when XA transactions are pending. A checkpoint taken over from
// another server by GTID has no file yet ("gtid SET on ...").
func (c Checkpoint) String() string {
	var parts []string
	if c.File != "" {
		parts = append(parts, fmt.Sprintf("%s:%d", c.File, c.Pos))
	}
	if c.GTIDSet != "" {
		parts = append(parts, "gtid "+c.GTIDSet)
	}
	if c.Server != nil {
		parts = append(parts, "on "+c.Server.String())
	}
	if len(c.Prepared) > 0 {
		parts = append(parts, fmt.Sprintf("with %d prepared XA", len(c.Prepared)))
	}
	return strings.Join(parts, " ")
}
