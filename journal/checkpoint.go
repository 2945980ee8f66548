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
	// follow decode correctly after an ALTER TABLE.
	Columns []string `json:"columns,omitempty"`
	// Server is the server File and Pos belong to. Checkpoints written
	// before the bridge recorded it have none; the follower then assumes
	// the server it connects to and records it at its next commit.
	Server *ServerIdentity `json:"server,omitempty"`
}

// Clone returns a copy that shares nothing with c.
func (c Checkpoint) Clone() Checkpoint {
	c.Columns = slices.Clone(c.Columns)
	if c.Server != nil {
		id := *c.Server
		c.Server = &id
	}
	return c
}

// String shows the coordinates: "file:pos", then " gtid SET" when there is
// a GTID set, and " on SERVER" when the server is known. A checkpoint taken
// over from another server by GTID has no file yet ("gtid SET on ...").
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
	return strings.Join(parts, " ")
}
