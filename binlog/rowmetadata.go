package binlog

import (
	"log/slog"
	"strings"
)

// warnRowMetadata logs, when the server does not log its table maps with
// binlog_row_metadata=FULL, what that costs: without column names in the
// binlog, rows after a schema change decode only by a layout the follower
// proves from information_schema and a look through the binlog
// (layoutproof.go), and one it cannot prove (the bridge was behind across
// two changes, or a table swap and a change) becomes a gap in coverage.
// With FULL every row names its columns and no schema change costs a gap.
// MariaDB 10.5+ and MySQL 8.0.1+ have the setting.
func warnRowMetadata(info ServerInfo, value string) {
	if strings.EqualFold(value, "FULL") {
		return
	}
	if value == "" {
		value = "unavailable (before MariaDB 10.5 or MySQL 8.0.1)"
	}
	slog.Warn("binlog_row_metadata is not FULL on the followed server: rows carry no column names, so a schema change "+
		"made while the bridge is behind may cost a gap in coverage (rows are never decoded by a guessed layout); "+
		"set binlog_row_metadata=FULL in its configuration (MySQL 8: SET PERSIST binlog_row_metadata='FULL') to avoid it",
		"binlog_row_metadata", value, "server", info.Version)
}
