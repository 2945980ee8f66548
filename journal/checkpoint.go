package journal

import (
	"fmt"
	"slices"
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
}

// Clone returns a copy that shares nothing with c.
func (c Checkpoint) Clone() Checkpoint {
	c.Columns = slices.Clone(c.Columns)
	return c
}

func (c Checkpoint) String() string {
	s := fmt.Sprintf("%s:%d", c.File, c.Pos)
	if c.GTIDSet != "" {
		s += " gtid " + c.GTIDSet
	}
	return s
}
