package binlog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A replication filter on the followed replica, or a binlog filter on the
// followed server, can leave a change to the table out of the binlog the
// bridge reads while everything else flows on: the replica keeps applying
// the primary's other transactions, with the primary's timestamps, so
// nothing in the stream says a transition is missing. The bridge therefore
// refuses every setting under which a change to jetpack_monitor_sites in the
// -dsn database could be left out (docs/operations.md, "Replica settings"),
// at start-up (Preflight) and while following (ReplicationWatch).
//
// The rules below are the servers' own (MySQL 8 reference manual, "How
// Servers Evaluate Replication Filtering Rules"; MariaDB's Rpl_filter,
// which evaluates the same way):
//   - Database options come first, and only one kind applies: with any
//     replicate_do_db, a database not listed is dropped; otherwise a
//     database listed in replicate_ignore_db is dropped. Row events are
//     judged by their table's database, but statements (every schema
//     change is logged as one) by the session's default database, so any
//     database option can drop an ALTER TABLE of the table issued from
//     another database: the replica's table then stops matching the
//     primary's. The bridge refuses database options outright and names
//     the table options that match by table for statements and rows alike.
//   - Table options, in this order: a match in replicate_do_table keeps the
//     change; a match in replicate_ignore_table drops it; a match in
//     replicate_wild_do_table keeps it; a match in
//     replicate_wild_ignore_table drops it; failing all, the change is
//     dropped when any do option exists, kept otherwise.
//   - Wild patterns are LIKE patterns (% any run, _ any one character, \
//     escaping either) over the whole "db.table" name.
//   - Database rewrites are applied before the filters: a rule moving the
//     -dsn database elsewhere leaves it without the primary's changes.
//   - MariaDB also filters by GTID domain (DO_DOMAIN_IDS,
//     IGNORE_DOMAIN_IDS), by originating server (IGNORE_SERVER_IDS, MySQL
//     too) and drops events the primary marked with @@skip_replication
//     unless replicate_events_marked_for_skip=REPLICATE.
//   - Binlog filters (binlog_do_db, binlog_ignore_db) judge rows by their
//     table's database and statements by the default database: rows of an
//     excluded database never reach the binlog, and a schema change issued
//     from an excluded default database neither.
//
// Whether names compare with or without regard to case depends on the
// server's lower_case_table_names and character set; each rule is judged
// both ways, and a setting that drops the change either way is refused.

// FilterProblem says how a filter setting can leave a change to the table
// out of the binlog the bridge reads, and what to do about it. Its Error is
// the sentence Preflight refuses with and /healthz shows.
type FilterProblem struct {
	// Setting names the setting and its value as the server reports it,
	// e.g. replicate_ignore_table='jetmon_db.jetpack_monitor_sites'.
	Setting string
	// Where says where it was read (a replication connection, the global
	// variables, performance_schema, SHOW MASTER STATUS).
	Where string
	// Effect says what it does to the table's changes.
	Effect string
	// Fix says how to remove it.
	Fix string
	// Binlog marks a binlog filter of the followed server (binlog_do_db,
	// binlog_ignore_db): it leaves changes out of the binlog, not out of
	// the table, so a fresh snapshot is exact once it is gone. A
	// replication filter drops them before the replica applies them and
	// leaves its rows stale (StaleRows).
	Binlog bool
}

// StaleRows reports whether the filter may have left the replica's rows of
// the table stale, so that coverage must be held until the table is known
// to match the primary's again (hold.go): every replication filter may.
func (p *FilterProblem) StaleRows() bool { return !p.Binlog }

func (p *FilterProblem) Error() string {
	return fmt.Sprintf("%s (%s, %s): %s", p.Effect, p.Setting, p.Where, p.Fix)
}

// ReplicationFilters is one set of replication filter settings as a server
// reports it: one replication connection's, the global variables, or one of
// MySQL 8's performance_schema filter tables.
type ReplicationFilters struct {
	// Where names the set in messages.
	Where string
	// Flavor chooses the statements the fixes name.
	Flavor Flavor
	// Connection is the replication connection (MariaDB) or channel
	// (MySQL) the set belongs to; "" is the default one.
	Connection string
	// Global marks MySQL's global filters (replication_applier_global_filters).
	Global bool

	DoDB, IgnoreDB                   []string
	DoTable, IgnoreTable             []string
	WildDoTable, WildIgnoreTable     []string
	RewriteDB                        []DBRewrite
	DoDomainIDs, IgnoreDomainIDs     []uint32
	IgnoreServerIDs                  []uint32
	MarkedForSkip                    string // MariaDB replicate_events_marked_for_skip; "" when not read
	Unreadable                       []string
	raw                              map[string]string // setting -> value as reported
	ownServerID                      uint32
	sourceDomains                    []uint32
	sourceDomainsKnown, ownServerSet bool
}

// DBRewrite is one replicate_rewrite_db rule: the primary's database From
// is written into To on the replica.
type DBRewrite struct{ From, To string }

// The settings' names as MariaDB's variables and SHOW SLAVE STATUS name
// them (MySQL's REPLICATE_* filter names are the same, upper-cased).
const (
	settingDoDB            = "replicate_do_db"
	settingIgnoreDB        = "replicate_ignore_db"
	settingDoTable         = "replicate_do_table"
	settingIgnoreTable     = "replicate_ignore_table"
	settingWildDoTable     = "replicate_wild_do_table"
	settingWildIgnoreTable = "replicate_wild_ignore_table"
	settingRewriteDB       = "replicate_rewrite_db"
	settingDoDomainIDs     = "replicate_do_domain_ids"
	settingIgnoreDomainIDs = "replicate_ignore_domain_ids"
	settingIgnoreServerIDs = "replicate_ignore_server_ids"
	settingMarkedForSkip   = "replicate_events_marked_for_skip"
)

// set records one setting's reported value, parsed; a value it cannot
// parse is kept in Unreadable (and refused).
func (f *ReplicationFilters) set(setting, value string) {
	value = strings.TrimSpace(value)
	if f.raw == nil {
		f.raw = map[string]string{}
	}
	f.raw[setting] = value
	if value == "" {
		return
	}
	switch setting {
	case settingDoDB:
		f.DoDB = splitFilterList(value)
	case settingIgnoreDB:
		f.IgnoreDB = splitFilterList(value)
	case settingDoTable:
		f.DoTable = splitFilterList(value)
	case settingIgnoreTable:
		f.IgnoreTable = splitFilterList(value)
	case settingWildDoTable:
		f.WildDoTable = splitFilterList(value)
	case settingWildIgnoreTable:
		f.WildIgnoreTable = splitFilterList(value)
	case settingRewriteDB:
		rules, ok := parseRewrites(value)
		if !ok {
			f.Unreadable = append(f.Unreadable, setting)
		}
		f.RewriteDB = rules
	case settingDoDomainIDs, settingIgnoreDomainIDs, settingIgnoreServerIDs:
		ids, ok := parseIDList(value)
		if !ok {
			f.Unreadable = append(f.Unreadable, setting)
		}
		switch setting {
		case settingDoDomainIDs:
			f.DoDomainIDs = ids
		case settingIgnoreDomainIDs:
			f.IgnoreDomainIDs = ids
		default:
			f.IgnoreServerIDs = ids
		}
	case settingMarkedForSkip:
		f.MarkedForSkip = strings.ToUpper(value)
	}
}

// splitFilterList splits a reported list ("a.b,c.d"; MySQL may quote names
// in backticks) into its entries.
func splitFilterList(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if len(part) >= 2 && part[0] == '`' && part[len(part)-1] == '`' {
			part = part[1 : len(part)-1]
		}
		part = strings.ReplaceAll(part, "`.`", ".")
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parseRewrites reads MariaDB's "a->b,c->d" and MySQL's "(a,b),(c,d)".
func parseRewrites(v string) ([]DBRewrite, bool) {
	var out []DBRewrite
	if strings.HasPrefix(v, "(") {
		for v != "" {
			v = strings.TrimLeft(v, ", ")
			if v == "" {
				break
			}
			end := strings.IndexByte(v, ')')
			if v[0] != '(' || end < 0 {
				return out, false
			}
			from, to, ok := strings.Cut(v[1:end], ",")
			if !ok {
				return out, false
			}
			out = append(out, DBRewrite{unquoteName(from), unquoteName(to)})
			v = v[end+1:]
		}
		return out, true
	}
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		from, to, ok := strings.Cut(part, "->")
		if !ok {
			return out, false
		}
		out = append(out, DBRewrite{unquoteName(from), unquoteName(to)})
	}
	return out, true
}

func unquoteName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' {
		s = s[1 : len(s)-1]
	}
	return s
}

// parseIDList reads a list of ids as servers print it: "1,2", "1 2", or
// MySQL's "(1,2)"; MariaDB prints a count first for IGNORE_SERVER_IDS in
// some versions ("2 1 2") only in SHOW SLAVE STATUS of old releases, which
// the bridge does not support.
func parseIDList(v string) ([]uint32, bool) {
	v = strings.Trim(strings.TrimSpace(v), "()")
	var out []uint32
	ok := true
	for part := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil {
			ok = false
			continue
		}
		out = append(out, uint32(n))
	}
	return out, ok
}

// knowsServer tells the rules which server the filters are on (its own
// server_id is harmless in IGNORE_SERVER_IDS) and the GTID domains its
// replication connection carries (the source's changes are in one of them).
func (f *ReplicationFilters) knowsServer(ownServerID uint32, sourceDomains []uint32, domainsKnown bool) {
	f.ownServerID, f.ownServerSet = ownServerID, true
	f.sourceDomains, f.sourceDomainsKnown = sourceDomains, domainsKnown
}

// LeavesOut returns how these filters can leave a change to db.table out,
// or nil when none of them can.
func (f *ReplicationFilters) LeavesOut(db, table string) *FilterProblem {
	if len(f.Unreadable) > 0 {
		s := f.Unreadable[0]
		return f.problem(s, "the bridge cannot read the replica's "+s+" setting",
			"it cannot tell whether it leaves out changes to "+db+"."+table+"; remove the setting")
	}
	for _, r := range f.RewriteDB {
		if (nameEq(r.From, db, true) || nameEq(r.From, db, false)) && !nameEq(r.To, db, true) {
			return f.problem(settingRewriteDB, fmt.Sprintf("the replica rewrites database %s to %s", r.From, r.To),
				fmt.Sprintf("the primary's changes to %s.%s land in %s.%s on the replica, never in the -dsn database; point -dsn at %s, or %s",
					db, table, r.To, table, r.To, f.fixRemove(settingRewriteDB, f.rewritesWithout(db))))
		}
	}
	if p := f.databaseOptions(db, table); p != nil {
		return p
	}
	for _, caseSensitive := range []bool{true, false} {
		if setting, kept := f.tableDecision(db+"."+table, caseSensitive); !kept {
			return f.tableProblem(setting, db, table)
		}
	}
	if p := f.domainOptions(db, table); p != nil {
		return p
	}
	if f.MarkedForSkip != "" && f.MarkedForSkip != "REPLICATE" {
		return f.problem(settingMarkedForSkip, "the replica drops the transactions its primary marked with @@skip_replication",
			fmt.Sprintf("a change to %s.%s made in such a session never reaches the replica; run SET GLOBAL replicate_events_marked_for_skip=REPLICATE while its replication is stopped", db, table))
	}
	return nil
}

// databaseOptions refuses every database-level option (see above).
func (f *ReplicationFilters) databaseOptions(db, table string) *FilterProblem {
	switch {
	case len(f.DoDB) > 0 && !listHas(f.DoDB, db, true):
		return f.problem(settingDoDB, fmt.Sprintf("the replica replicates only %s", strings.Join(f.DoDB, ", ")),
			fmt.Sprintf("every change to %s.%s is dropped before the replica applies it, so the bridge never sees it; %s",
				db, table, f.fixRemove(settingDoDB, "")))
	case len(f.DoDB) > 0:
		return f.problem(settingDoDB, "the replica filters statements by their default database",
			fmt.Sprintf("a schema change to %s.%s issued from another database (USE other; ALTER TABLE %s.%s ...) is dropped, and the replica's table then no longer matches the primary's; "+
				"replace it with replicate_wild_do_table, which matches the tables a statement changes (%s)",
				db, table, db, table, f.fixReplace(settingDoDB, settingWildDoTable, wildAll(f.DoDB))))
	case len(f.IgnoreDB) > 0 && (listHas(f.IgnoreDB, db, true) || listHas(f.IgnoreDB, db, false)):
		return f.problem(settingIgnoreDB, "the replica ignores database "+db,
			fmt.Sprintf("every change to %s.%s is dropped before the replica applies it, so the bridge never sees it; %s",
				db, table, f.fixRemove(settingIgnoreDB, strings.Join(without(f.IgnoreDB, db), ","))))
	case len(f.IgnoreDB) > 0:
		return f.problem(settingIgnoreDB, "the replica filters statements by their default database",
			fmt.Sprintf("a schema change to %s.%s issued from an ignored database (USE %s; ALTER TABLE %s.%s ...) is dropped, and the replica's table then no longer matches the primary's; "+
				"replace it with replicate_wild_ignore_table, which matches the tables a statement changes (%s)",
				db, table, f.IgnoreDB[0], db, table, f.fixReplace(settingIgnoreDB, settingWildIgnoreTable, wildAll(f.IgnoreDB))))
	}
	return nil
}

// tableDecision runs the table options on name ("db.table") as the servers
// do, and returns whether the change is kept and which setting decided.
func (f *ReplicationFilters) tableDecision(name string, caseSensitive bool) (string, bool) {
	if len(f.DoTable)+len(f.IgnoreTable)+len(f.WildDoTable)+len(f.WildIgnoreTable) == 0 {
		return "", true
	}
	if listHas(f.DoTable, name, caseSensitive) {
		return settingDoTable, true
	}
	if listHas(f.IgnoreTable, name, caseSensitive) {
		return settingIgnoreTable, false
	}
	for _, p := range f.WildDoTable {
		if likeMatch(p, name, caseSensitive) {
			return settingWildDoTable, true
		}
	}
	for _, p := range f.WildIgnoreTable {
		if likeMatch(p, name, caseSensitive) {
			return settingWildIgnoreTable, false
		}
	}
	if len(f.DoTable) > 0 {
		return settingDoTable, false
	}
	if len(f.WildDoTable) > 0 {
		return settingWildDoTable, false
	}
	return "", true
}

func (f *ReplicationFilters) tableProblem(setting, db, table string) *FilterProblem {
	name := db + "." + table
	switch setting {
	case settingIgnoreTable:
		return f.problem(setting, "the replica ignores "+name,
			fmt.Sprintf("its changes never reach the replica, so the bridge cannot see them; %s",
				f.fixRemove(setting, strings.Join(without(f.IgnoreTable, name), ","))))
	case settingWildIgnoreTable:
		var keep []string
		for _, p := range f.WildIgnoreTable {
			if !likeMatch(p, name, true) && !likeMatch(p, name, false) {
				keep = append(keep, p)
			}
		}
		return f.problem(setting, "the replica ignores the tables matching "+strings.Join(f.WildIgnoreTable, ", ")+", "+name+" among them",
			fmt.Sprintf("its changes never reach the replica, so the bridge cannot see them; %s", f.fixRemove(setting, strings.Join(keep, ","))))
	}
	// A do list that does not name the table.
	return f.problem(setting, "the replica replicates only the tables its do-table filters name, and "+name+" is not one of them",
		fmt.Sprintf("its changes never reach the replica, so the bridge cannot see them; add %s to %s, or %s",
			name, setting, f.fixRemove(setting, "")))
}

// domainOptions checks the GTID domain and server id filters (MariaDB's
// DO_DOMAIN_IDS and IGNORE_DOMAIN_IDS, and IGNORE_SERVER_IDS).
func (f *ReplicationFilters) domainOptions(db, table string) *FilterProblem {
	excluded := func(d uint32) bool {
		return len(f.DoDomainIDs) > 0 && !slices.Contains(f.DoDomainIDs, d) || slices.Contains(f.IgnoreDomainIDs, d)
	}
	if len(f.DoDomainIDs)+len(f.IgnoreDomainIDs) > 0 {
		setting := settingIgnoreDomainIDs
		if len(f.DoDomainIDs) > 0 {
			setting = settingDoDomainIDs
		}
		dropped := !f.sourceDomainsKnown || len(f.sourceDomains) == 0
		for _, d := range f.sourceDomains {
			dropped = dropped || excluded(d)
		}
		if dropped {
			return f.problem(setting, "the replica filters its source's transactions by GTID domain",
				fmt.Sprintf("a change to %s.%s in a domain it leaves out never reaches the replica; run CHANGE MASTER TO DO_DOMAIN_IDS=(), IGNORE_DOMAIN_IDS=() while its replication is stopped", db, table))
		}
	}
	for _, id := range f.IgnoreServerIDs {
		if !f.ownServerSet || id != f.ownServerID {
			return f.problem(settingIgnoreServerIDs, fmt.Sprintf("the replica ignores the transactions of server %d", id),
				fmt.Sprintf("a change to %s.%s written there never reaches the replica; %s", db, table, f.fixIgnoreServerIDs()))
		}
	}
	return nil
}

func (f *ReplicationFilters) problem(setting, effect, fix string) *FilterProblem {
	return &FilterProblem{Setting: fmt.Sprintf("%s='%s'", setting, f.raw[setting]), Where: f.Where, Effect: effect, Fix: fix}
}

// fixRemove says how to set a filter to keep (empty: remove it), in the
// server's own statements, and to keep it out of the configuration file.
func (f *ReplicationFilters) fixRemove(setting, keep string) string {
	verb := "remove the filter"
	if keep != "" {
		verb = "take the table out of the filter"
	}
	const lasting = " (and change the server's configuration file too, or a restart brings the filter back)"
	if f.Flavor == FlavorMySQL {
		rule := "()"
		if keep != "" {
			rule = "(" + keep + ")"
		}
		return fmt.Sprintf("%s: STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER %s = %s%s; START REPLICA SQL_THREAD%s",
			verb, strings.ToUpper(setting), rule, f.mysqlChannel(), lasting)
	}
	return fmt.Sprintf("%s: %s; %sSET GLOBAL %s='%s'; %s%s",
		verb, mariaStop(f.Connection), mariaConnection(f.Connection), setting, keep, mariaStart(f.Connection), lasting)
}

func (f *ReplicationFilters) fixReplace(old, replacement, value string) string {
	if f.Flavor == FlavorMySQL {
		return fmt.Sprintf("STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER %s = (), %s = (%s)%s; START REPLICA SQL_THREAD",
			strings.ToUpper(old), strings.ToUpper(replacement), value, f.mysqlChannel())
	}
	return fmt.Sprintf("%s; %sSET GLOBAL %s=''; SET GLOBAL %s='%s'; %s",
		mariaStop(f.Connection), mariaConnection(f.Connection), old, replacement, value, mariaStart(f.Connection))
}

func (f *ReplicationFilters) fixIgnoreServerIDs() string {
	if f.Flavor == FlavorMySQL {
		return "run CHANGE REPLICATION SOURCE TO IGNORE_SERVER_IDS = ()" + f.mysqlChannel() + " while its replication is stopped"
	}
	return "run CHANGE MASTER TO IGNORE_SERVER_IDS = () while its replication is stopped"
}

func (f *ReplicationFilters) rewritesWithout(db string) string {
	var keep []string
	for _, r := range f.RewriteDB {
		if !nameEq(r.From, db, false) {
			if f.Flavor == FlavorMySQL {
				keep = append(keep, "("+r.From+","+r.To+")")
			} else {
				keep = append(keep, r.From+"->"+r.To)
			}
		}
	}
	return strings.Join(keep, ",")
}

// mysqlChannel names the channel a MySQL fix applies to; none for the
// global filters, which apply to every channel without filters of its own.
func (f *ReplicationFilters) mysqlChannel() string {
	if f.Global {
		return ""
	}
	return " FOR CHANNEL '" + f.Connection + "'"
}

func mariaStop(c string) string {
	if c == "" {
		return "STOP SLAVE"
	}
	return "STOP SLAVE '" + c + "'"
}

func mariaStart(c string) string {
	if c == "" {
		return "START SLAVE"
	}
	return "START SLAVE '" + c + "'"
}

func mariaConnection(c string) string {
	if c == "" {
		return ""
	}
	return "SET @@default_master_connection='" + c + "'; "
}

func wildAll(dbs []string) string {
	out := make([]string, len(dbs))
	for i, d := range dbs {
		out[i] = escapeLike(d) + ".%"
	}
	return strings.Join(out, ",")
}

// escapeLike escapes a name for use in a wild pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func without(list []string, name string) []string {
	var out []string
	for _, v := range list {
		if !nameEq(v, name, false) {
			out = append(out, v)
		}
	}
	return out
}

func listHas(list []string, name string, caseSensitive bool) bool {
	for _, v := range list {
		if nameEq(v, name, caseSensitive) {
			return true
		}
	}
	return false
}

func nameEq(a, b string, caseSensitive bool) bool {
	if caseSensitive {
		return a == b
	}
	return strings.EqualFold(a, b)
}

// likeMatch reports whether name matches the LIKE pattern: % matches any
// run of characters, _ any one, and \ makes the next character literal (a
// trailing \ is itself). It compares by runes; invalid UTF-8 bytes count
// as one character each.
func likeMatch(pattern, name string, caseSensitive bool) bool {
	if !caseSensitive {
		pattern, name = strings.ToLower(pattern), strings.ToLower(name)
	}
	p, n := toRunes(pattern), toRunes(name)
	// Iterative matching with backtracking to the last %: linear in
	// practice, never exponential.
	pi, ni := 0, 0
	starP, starN := -1, 0
	for ni < len(n) {
		if pi < len(p) {
			c, literal, width := p[pi], false, 1
			if c == '\\' && pi+1 < len(p) {
				c, literal, width = p[pi+1], true, 2
			}
			switch {
			case c == '%' && !literal:
				starP, starN = pi, ni
				pi++
				continue
			case c == '_' && !literal || c == n[ni]:
				pi += width
				ni++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		pi, starN = starP+1, starN+1
		ni = starN
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

func toRunes(s string) []rune {
	out := make([]rune, 0, len(s))
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			r = rune(0x110000 + int(s[0])) // a distinct value per invalid byte
		}
		out = append(out, r)
		s = s[size:]
	}
	return out
}

// BinlogFilters are the followed server's binlog filters, which SHOW MASTER
// STATUS (SHOW BINARY LOG STATUS) reports.
type BinlogFilters struct {
	DoDB, IgnoreDB string
}

// LeavesOut returns how the binlog filters can leave a change to db.table
// out of the followed server's binlog, or nil. fullMetadata reports
// binlog_row_metadata=FULL: rows then carry their own column names, so a
// schema change missing from the binlog cannot make the bridge mis-decode
// them, and a filter that keeps the table's rows is harmless.
func (b BinlogFilters) LeavesOut(db, table string, fullMetadata bool, flavor Flavor) *FilterProblem {
	where := "SHOW MASTER STATUS"
	if flavor == FlavorMySQL {
		where = "SHOW BINARY LOG STATUS"
	}
	restart := "remove it from the followed server's configuration (it is a start-up option) and restart the server"
	do, ignore := splitFilterList(b.DoDB), splitFilterList(b.IgnoreDB)
	switch {
	case len(do) > 0 && !listHas(do, db, true):
		return &FilterProblem{Setting: "binlog_do_db='" + b.DoDB + "'", Where: where, Binlog: true,
			Effect: "the followed server writes to its binlog only the changes to " + strings.Join(do, ", "),
			Fix:    fmt.Sprintf("every change to %s.%s is left out of the binlog the bridge reads; add %s to binlog_do_db or %s", db, table, db, restart)}
	case len(do) == 0 && (listHas(ignore, db, true) || listHas(ignore, db, false)):
		return &FilterProblem{Setting: "binlog_ignore_db='" + b.IgnoreDB + "'", Where: where, Binlog: true,
			Effect: "the followed server leaves database " + db + " out of its binlog",
			Fix:    fmt.Sprintf("every change to %s.%s is left out of the binlog the bridge reads; take %s out of binlog_ignore_db, or %s", db, table, db, restart)}
	case (len(do) > 0 || len(ignore) > 0) && !fullMetadata:
		setting := "binlog_do_db='" + b.DoDB + "'"
		if len(do) == 0 {
			setting = "binlog_ignore_db='" + b.IgnoreDB + "'"
		}
		return &FilterProblem{Setting: setting, Where: where, Binlog: true,
			Effect: "the followed server filters the statements it logs by their default database",
			Fix: fmt.Sprintf("a schema change to %s.%s issued from another database is left out of its binlog, and the bridge would decode later rows by the old column layout; "+
				"set binlog_row_metadata=FULL (rows then carry their column names), or %s", db, table, restart)}
	}
	return nil
}
