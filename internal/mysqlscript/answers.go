package mysqlscript

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// Query is a statement a client sent, for a scripted answer: its text with
// whitespace collapsed, and the arguments of a prepared statement.
type Query struct {
	SQL  string
	Args []any
}

// Rows is a result set: column names and rows of values (nil, integers,
// bool, string, []byte, time.Time).
type Rows struct {
	Columns []string
	Values  [][]any
}

// OneRow is a result of one row from alternating column names and values:
// OneRow("Replica_IO_Running", "Yes", "Seconds_Behind_Source", 0).
func OneRow(namesAndValues ...any) *Rows {
	r := &Rows{Values: [][]any{{}}}
	for i := 0; i+1 < len(namesAndValues); i += 2 {
		r.Columns = append(r.Columns, fmt.Sprint(namesAndValues[i]))
		r.Values[0] = append(r.Values[0], namesAndValues[i+1])
	}
	return r
}

// NoRows is an empty result with these columns.
func NoRows(columns ...string) *Rows { return &Rows{Columns: columns} }

// Error is a MySQL error a scripted answer returns: Error(1227, "Access
// denied; you need (at least one of) the REPLICATION CLIENT privilege(s)").
func Error(code uint16, message string) error { return gomysql.NewError(code, message) }

type answer struct {
	re *regexp.Regexp
	fn func(Query) (*Rows, error)
}

// Answer makes statements matching pattern (a regular expression matched,
// case-insensitively, against the statement with its whitespace collapsed
// and no trailing semicolon) answer with fn's rows or error (nil rows and
// nil error: OK). The latest Answer matching a statement wins over earlier
// ones and over the defaults. Anchor patterns (^...$) to match one
// statement only.
func (s *Server) Answer(pattern string, fn func(Query) (*Rows, error)) {
	re := regexp.MustCompile("(?i)" + pattern)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = append(s.answers, answer{re, fn})
}

// AnswerRows answers statements matching pattern with rows.
func (s *Server) AnswerRows(pattern string, rows *Rows) {
	s.Answer(pattern, func(Query) (*Rows, error) { return rows, nil })
}

// Refuse answers statements matching pattern with a MySQL error.
func (s *Server) Refuse(pattern string, code uint16, message string) {
	s.Answer(pattern, func(Query) (*Rows, error) { return nil, Error(code, message) })
}

// SetVariable sets a global variable for SHOW GLOBAL VARIABLES and
// SELECT @@name (binlog_format, binlog_row_image, gtid_mode, ...).
func (s *Server) SetVariable(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vars[strings.ToLower(name)] = value
}

// Statements returns every statement received so far (normalized), and
// each dump command as "COM_BINLOG_DUMP_GTID <set>" or
// "COM_BINLOG_DUMP <file>:<pos>".
func (s *Server) Statements() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// Count returns how many statements received so far match pattern (as
// Answer matches).
func (s *Server) Count(pattern string) int {
	re := regexp.MustCompile("(?i)" + pattern)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.log {
		if re.MatchString(q) {
			n++
		}
	}
	return n
}

// HeartbeatsSent counts the heartbeats every dump has sent so far.
func (s *Server) HeartbeatsSent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heartbeats
}

// Changed is closed when the binlog, the statement log or the count of
// heartbeats sent next grows: a
// test waiting for a statement or a dump waits on it between Counts.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Server) record(q string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, q)
	s.notifyLocked()
}

// defaultVariables are MySQL 8.4's settings a follower checks.
func (s *Server) defaultVariables() map[string]string {
	gtid := "ON"
	if s.opts.GTIDModeOff {
		gtid = "OFF"
	}
	checksum := "CRC32"
	if s.opts.NoChecksum {
		checksum = "NONE"
	}
	return map[string]string{
		"log_bin":                        "ON",
		"binlog_format":                  "ROW",
		"binlog_row_image":               "FULL",
		"binlog_row_metadata":            "MINIMAL",
		"binlog_checksum":                checksum,
		"gtid_mode":                      gtid,
		"enforce_gtid_consistency":       gtid,
		"log_replica_updates":            "ON",
		"log_slave_updates":              "ON",
		"read_only":                      "OFF",
		"super_read_only":                "OFF",
		"time_zone":                      "SYSTEM",
		"system_time_zone":               "UTC",
		"max_allowed_packet":             "67108864",
		"binlog_transaction_compression": "OFF",
		"version_comment":                "MySQL Community Server - GPL (scripted)",
	}
}

// variable reads a global variable; the dynamic ones come from the state.
func (s *Server) variable(name string) (string, bool) {
	switch name = strings.ToLower(name); name {
	case "server_id":
		return strconv.FormatUint(uint64(s.opts.ServerID), 10), true
	case "server_uuid":
		return s.uuid.String(), true
	case "version":
		return s.opts.Version, true
	case "gtid_executed":
		return s.executed.format(",\n"), true
	case "gtid_purged":
		return s.purged.format(",\n"), true
	}
	v, ok := s.vars[name]
	return v, ok
}

var (
	selectVars  = regexp.MustCompile(`(?i)^SELECT (@@[\w.]+(?:\s*,\s*@@[\w.]+)*)$`)
	varsLike    = regexp.MustCompile(`(?i)^SHOW (?:GLOBAL |SESSION )?VARIABLES LIKE '([^']*)'$`)
	varsIn      = regexp.MustCompile(`(?i)^SHOW (?:GLOBAL |SESSION )?VARIABLES WHERE Variable_name IN \(([^)]*)\)$`)
	columnsOf   = regexp.MustCompile(`(?i)^SELECT COLUMN_NAME FROM information_schema\.COLUMNS WHERE TABLE_SCHEMA = \? AND TABLE_NAME = \? ORDER BY ORDINAL_POSITION$`)
	tableSelect = regexp.MustCompile("(?i)^SELECT (.+?) FROM `?([\\w.]+?)`?(?: WHERE (\\w+) (=|>|>=|<|<=) \\?)?(?: ORDER BY (.+?))?(?: LIMIT (\\d+))?$")
	perfSchema  = regexp.MustCompile(`(?i)^SELECT (.+?) FROM performance_schema\.`)
	// selectList is a SELECT of items without FROM: global variables and
	// the clock expression the bridge reads servers' clocks with.
	selectList = regexp.MustCompile(`(?i)^SELECT (.+)$`)
	clockItem  = regexp.MustCompile(`(?i)^TIMESTAMPDIFF\(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP\(6\)\)$`)
	setStmt    = regexp.MustCompile(`(?i)^SET `)
)

// answer answers one statement: a scripted answer if one matches, else the
// default MySQL 8 behaviour for the statements the bridge and its driver
// send.
func (s *Server) answer(c *conn, q string, args []any, binary bool) (*gomysql.Result, error) {
	n := normalize(q)
	s.record(n)
	s.mu.Lock()
	var fn func(Query) (*Rows, error)
	for i := len(s.answers) - 1; i >= 0; i-- {
		if s.answers[i].re.MatchString(n) {
			fn = s.answers[i].fn
			break
		}
	}
	s.mu.Unlock()
	var rows *Rows
	var err error
	if fn != nil {
		rows, err = fn(Query{SQL: n, Args: args})
	} else {
		rows, err = s.byDefault(c, n, args)
	}
	if err != nil || rows == nil {
		return nil, err
	}
	return rows.result(binary)
}

// syntaxError is MySQL's answer to a statement its version does not have.
func syntaxError(stmt string) error {
	return gomysql.NewError(gomysql.ER_PARSE_ERROR, fmt.Sprintf("You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '%s'", stmt))
}

func (s *Server) byDefault(c *conn, n string, args []any) (*Rows, error) {
	up := strings.ToUpper(n)
	v := s.opts.Version
	switch {
	case setStmt.MatchString(n):
		c.setVariables(n[4:])
		return nil, nil
	case up == "SELECT 1":
		return OneRow("1", int64(1)), nil
	case up == "SELECT VERSION()":
		return OneRow("VERSION()", v), nil
	case up == "SELECT DATABASE()":
		return OneRow("DATABASE()", s.opts.Database), nil
	case strings.HasPrefix(up, "KILL "):
		return nil, nil
	case up == "SHOW GRANTS" || up == "SHOW GRANTS FOR CURRENT_USER()" || up == "SHOW GRANTS FOR CURRENT_USER":
		u := fmt.Sprintf("`%s`@`%%`", s.opts.User)
		return &Rows{Columns: []string{fmt.Sprintf("Grants for %s@%%", s.opts.User)}, Values: [][]any{
			{"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO " + u},
			{fmt.Sprintf("GRANT SELECT ON `%s`.* TO %s", s.opts.Database, u)},
		}}, nil
	case up == "SHOW BINARY LOG STATUS" || up == "SHOW MASTER STATUS":
		if up == "SHOW BINARY LOG STATUS" && !versionAtLeast(v, 8, 2) || up == "SHOW MASTER STATUS" && versionAtLeast(v, 8, 4) {
			return nil, syntaxError(n)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		file, pos := s.end()
		return OneRow("File", file, "Position", uint64(pos), "Binlog_Do_DB", "", "Binlog_Ignore_DB", "", "Executed_Gtid_Set", s.executed.format(",\n")), nil
	case up == "SHOW BINARY LOGS" || up == "SHOW MASTER LOGS":
		s.mu.Lock()
		defer s.mu.Unlock()
		r := NoRows("Log_name", "File_size", "Encrypted")
		for _, f := range s.files {
			r.Values = append(r.Values, []any{f.name, uint64(f.end), "No"})
		}
		return r, nil
	case up == "SHOW REPLICA STATUS" || up == "SHOW SLAVE STATUS":
		if up == "SHOW SLAVE STATUS" && versionAtLeast(v, 8, 4) {
			return nil, syntaxError(n)
		}
		return NoRows("Replica_IO_State", "Source_Host", "Replica_IO_Running", "Replica_SQL_Running"), nil
	case up == "SHOW ALL SLAVES STATUS":
		return nil, syntaxError(n) // MariaDB's
	}
	if m := showBinlogEvents.FindStringSubmatch(n); m != nil {
		return s.binlogEvents(m)
	}
	if m := selectVars.FindStringSubmatch(n); m != nil {
		return s.selectVariables(m[1])
	}
	if m := selectList.FindStringSubmatch(n); m != nil {
		if r, ok, err := s.selectItems(m[1]); ok {
			return r, err
		}
	}
	if m := varsLike.FindStringSubmatch(n); m != nil {
		like := regexp.MustCompile("(?i)^" + strings.ReplaceAll(regexp.QuoteMeta(m[1]), "%", ".*") + "$")
		return s.showVariables(func(name string) bool { return like.MatchString(name) }), nil
	}
	if m := varsIn.FindStringSubmatch(n); m != nil {
		var names []string
		for part := range strings.SplitSeq(m[1], ",") {
			names = append(names, strings.ToLower(strings.Trim(strings.TrimSpace(part), "'\"")))
		}
		return s.showVariables(func(name string) bool { return slices.Contains(names, name) }), nil
	}
	if columnsOf.MatchString(n) && len(args) == 2 {
		s.mu.Lock()
		defer s.mu.Unlock()
		r := NoRows("COLUMN_NAME")
		if t := s.tables[text(args[0])+"."+text(args[1])]; t != nil {
			for _, col := range t.Columns {
				r.Values = append(r.Values, []any{col.Name})
			}
		}
		return r, nil
	}
	if m := perfSchema.FindStringSubmatch(n); m != nil {
		// Not a replica: replication's performance_schema tables are empty.
		var cols []string
		for c := range strings.SplitSeq(m[1], ",") {
			cols = append(cols, strings.TrimSpace(c))
		}
		return NoRows(cols...), nil
	}
	if m := tableSelect.FindStringSubmatch(n); m != nil {
		if r, ok, err := s.selectTable(m, args); ok {
			return r, err
		}
	}
	return nil, gomysql.NewError(gomysql.ER_NOT_SUPPORTED_YET, fmt.Sprintf("the scripted MySQL server has no answer for %q: script one with Server.Answer", n))
}

func text(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

func (s *Server) selectVariables(list string) (*Rows, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Rows{Values: [][]any{{}}}
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		name := strings.TrimPrefix(item, "@@")
		if scope, rest, ok := strings.Cut(name, "."); ok && (strings.EqualFold(scope, "GLOBAL") || strings.EqualFold(scope, "SESSION")) {
			name = rest
		}
		val, ok := s.variable(name)
		if !ok {
			return nil, gomysql.NewError(gomysql.ER_UNKNOWN_SYSTEM_VARIABLE, fmt.Sprintf("Unknown system variable '%s'", name))
		}
		r.Columns = append(r.Columns, item)
		r.Values[0] = append(r.Values[0], val)
	}
	return r, nil
}

// selectItems answers a SELECT list of global variables and the server's
// clock (microseconds since the epoch, from the host's clock); ok is false
// for any other list.
func (s *Server) selectItems(list string) (*Rows, bool, error) {
	items := splitOutsideParens(list)
	r := &Rows{Values: [][]any{{}}}
	for _, item := range items {
		item = strings.TrimSpace(item)
		switch {
		case clockItem.MatchString(item):
			r.Columns = append(r.Columns, item)
			r.Values[0] = append(r.Values[0], time.Now().UnixMicro())
		case strings.HasPrefix(item, "@@"):
			v, err := s.selectVariables(item)
			if err != nil {
				return nil, true, err
			}
			r.Columns = append(r.Columns, item)
			r.Values[0] = append(r.Values[0], v.Values[0][0])
		default:
			return nil, false, nil
		}
	}
	return r, true, nil
}

// splitOutsideParens splits a list at the commas outside parentheses.
func splitOutsideParens(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func (s *Server) showVariables(match func(string) bool) *Rows {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := []string{"server_id", "server_uuid", "version", "gtid_executed", "gtid_purged"}
	for k := range s.vars {
		names = append(names, k)
	}
	slices.Sort(names)
	r := NoRows("Variable_name", "Value")
	for _, k := range slices.Compact(names) {
		if match(k) {
			v, _ := s.variable(k)
			r.Values = append(r.Values, []any{k, v})
		}
	}
	return r
}

// setVariables records a SET statement's user variables (@name = value);
// session settings (time_zone, NAMES) are accepted and ignored.
func (c *conn) setVariables(list string) {
	for _, part := range splitOutsideQuotes(list) {
		name, value, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || !strings.HasPrefix(name, "@") || strings.HasPrefix(name, "@@") {
			continue
		}
		c.s.mu.Lock()
		c.vars[strings.ToLower(name[1:])] = strings.Trim(strings.TrimSpace(value), "'\"")
		c.s.mu.Unlock()
	}
}

func splitOutsideQuotes(s string) []string {
	var parts []string
	var quote rune
	start := 0
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// selectTable answers SELECT cols FROM table [WHERE col op ?] [ORDER BY
// col [DESC], ...] [LIMIT n] from the table model: the reads of the
// bridge's store (snapshot pages, a blog's latest change, a URL's rows).
func (s *Server) selectTable(m []string, args []any) (*Rows, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := m[2]
	if !strings.Contains(name, ".") {
		name = s.opts.Database + "." + name
	}
	t := s.tables[name]
	if t == nil {
		return nil, false, nil
	}
	var cols []int
	r := &Rows{}
	for c := range strings.SplitSeq(m[1], ",") {
		c = strings.Trim(strings.TrimSpace(c), "`")
		i := t.column(c)
		if i < 0 {
			return nil, true, gomysql.NewError(gomysql.ER_BAD_FIELD_ERROR, fmt.Sprintf("Unknown column '%s' in 'field list'", c))
		}
		cols = append(cols, i)
		r.Columns = append(r.Columns, c)
	}
	var rows []Row
	for _, row := range s.rows[name] {
		rows = append(rows, row)
	}
	if m[3] != "" {
		i := t.column(m[3])
		if i < 0 || len(args) != 1 {
			return nil, true, gomysql.NewError(gomysql.ER_BAD_FIELD_ERROR, fmt.Sprintf("Unknown column '%s' in 'where clause'", m[3]))
		}
		rows = slices.DeleteFunc(rows, func(row Row) bool {
			c := compare(row[i], args[0])
			switch m[4] {
			case "=":
				return c != 0
			case ">":
				return c <= 0
			case ">=":
				return c < 0
			case "<":
				return c >= 0
			}
			return c > 0
		})
	}
	var order []struct {
		col  int
		desc bool
	}
	if m[5] != "" {
		for part := range strings.SplitSeq(m[5], ",") {
			f := strings.Fields(part)
			i := t.column(strings.Trim(f[0], "`"))
			if i < 0 {
				return nil, true, gomysql.NewError(gomysql.ER_BAD_FIELD_ERROR, fmt.Sprintf("Unknown column '%s' in 'order clause'", f[0]))
			}
			order = append(order, struct {
				col  int
				desc bool
			}{i, len(f) > 1 && strings.EqualFold(f[1], "DESC")})
		}
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		for _, o := range order {
			if c := compare(a[o.col], b[o.col]); c != 0 {
				if o.desc {
					return -c
				}
				return c
			}
		}
		return 0
	})
	if m[6] != "" {
		if limit, _ := strconv.Atoi(m[6]); limit < len(rows) {
			rows = rows[:limit]
		}
	}
	for _, row := range rows {
		vals := make([]any, len(cols))
		for j, i := range cols {
			vals[j] = outValue(t.Columns[i], row[i])
		}
		r.Values = append(r.Values, vals)
	}
	return r, true, nil
}

// outValue is a stored value as the server returns it.
func outValue(c Column, v any) any {
	if v == nil {
		return nil
	}
	if c.Type.numeric() {
		n, _ := integer(v)
		if c.Unsigned {
			return n
		}
		return int64(n)
	}
	return v
}

// compare orders two values: NULL first, then integers, strings and times
// among their kind.
func compare(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if x, ok := a.(time.Time); ok {
		y, _ := b.(time.Time)
		return x.Compare(y)
	}
	if x, err := integer(a); err == nil {
		if y, err := integer(b); err == nil {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
		if f, ok := b.(float64); ok {
			y := uint64(f)
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(text(a), text(b))
}
