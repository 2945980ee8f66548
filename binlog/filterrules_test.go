package binlog

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// filters builds a filter set from settings as the server reports them.
func filters(flavor Flavor, settings ...string) *ReplicationFilters {
	f := &ReplicationFilters{Where: "replication connection ''", Flavor: flavor}
	for i := 0; i+1 < len(settings); i += 2 {
		f.set(settings[i], settings[i+1])
	}
	f.knowsServer(2, []uint32{0}, true)
	return f
}

// TestFilterRules judges every kind of replication filter the servers
// have for the change to jetmon_db.jetpack_monitor_sites: each that can
// leave it out is refused, naming the deciding setting; the others pass.
func TestFilterRules(t *testing.T) {
	const db, table = "jetmon_db", "jetpack_monitor_sites"
	cases := []struct {
		name     string
		settings []string
		refused  string // the setting named, "" when the change is kept
	}{
		{"no filters", nil, ""},
		{"empty values", []string{settingDoDB, "", settingIgnoreTable, " "}, ""},
		{"ignore the table", []string{settingIgnoreTable, "jetmon_db.jetpack_monitor_sites"}, settingIgnoreTable},
		{"ignore it among others", []string{settingIgnoreTable, "a.b,jetmon_db.jetpack_monitor_sites"}, settingIgnoreTable},
		{"ignore it in another case", []string{settingIgnoreTable, "JETMON_DB.Jetpack_Monitor_Sites"}, settingIgnoreTable},
		{"ignore another table", []string{settingIgnoreTable, "jetmon_db.jetpack_monitor_sites_old,jetmon_db2.jetpack_monitor_sites"}, ""},
		{"do the table", []string{settingDoTable, "jetmon_db.jetpack_monitor_sites"}, ""},
		{"do only another table", []string{settingDoTable, "jetmon_db.other"}, settingDoTable},
		{"do the table in another case only", []string{settingDoTable, "Jetmon_DB.jetpack_monitor_sites"}, settingDoTable},
		{"do-table wins over ignore-table", []string{settingDoTable, "jetmon_db.jetpack_monitor_sites", settingIgnoreTable, "jetmon_db.jetpack_monitor_sites"}, ""},
		{"wild do matching", []string{settingWildDoTable, "jetmon%.%"}, ""},
		{"wild do escaped", []string{settingWildDoTable, `jetmon\_db.%`}, ""},
		{"wild do with one-character wildcards", []string{settingWildDoTable, "jetmon_db.jetpack_monitor_site_"}, ""},
		{"wild do across the dot", []string{settingWildDoTable, "jet%sites"}, ""},
		{"wild do not matching", []string{settingWildDoTable, "other.%"}, settingWildDoTable},
		{"wild do escaped not matching", []string{settingWildDoTable, `jetmon\%.%`}, settingWildDoTable},
		{"wild do in another case only", []string{settingWildDoTable, "JETMON%.%"}, settingWildDoTable},
		{"wild ignore matching", []string{settingWildIgnoreTable, "jet%.%"}, settingWildIgnoreTable},
		{"wild ignore in another case", []string{settingWildIgnoreTable, "JETMON_DB.%"}, settingWildIgnoreTable},
		{"wild ignore not matching", []string{settingWildIgnoreTable, "jetmon_db.x%,mysql.%"}, ""},
		{"ignore-table before wild do", []string{settingIgnoreTable, "jetmon_db.jetpack_monitor_sites", settingWildDoTable, "jetmon_db.%"}, settingIgnoreTable},
		{"wild do before wild ignore", []string{settingWildDoTable, "jetmon_db.%", settingWildIgnoreTable, "jetmon_db.%"}, ""},
		{"do-table elsewhere, wild ignore elsewhere", []string{settingDoTable, "a.b", settingWildIgnoreTable, "c.%"}, settingDoTable},
		{"ignore elsewhere only", []string{settingIgnoreTable, "a.b", settingWildIgnoreTable, "c.%"}, ""},
		{"do-db not listing the database", []string{settingDoDB, "otherdb"}, settingDoDB},
		{"do-db listing the database", []string{settingDoDB, "jetmon_db"}, settingDoDB},
		{"ignore-db listing the database", []string{settingIgnoreDB, "otherdb,jetmon_db"}, settingIgnoreDB},
		{"ignore-db of another database", []string{settingIgnoreDB, "otherdb"}, settingIgnoreDB},
		{"rewrite the database away", []string{settingRewriteDB, "jetmon_db->elsewhere"}, settingRewriteDB},
		{"rewrite the database away, MySQL's form", []string{settingRewriteDB, "(jetmon_db,elsewhere)"}, settingRewriteDB},
		{"rewrite another database into it", []string{settingRewriteDB, "jetmon_primary->jetmon_db"}, ""},
		{"rewrite unreadable", []string{settingRewriteDB, "jetmon_db=>x"}, settingRewriteDB},
		{"do domains without the source's", []string{settingDoDomainIDs, "1"}, settingDoDomainIDs},
		{"do domains with the source's", []string{settingDoDomainIDs, "0,1"}, ""},
		{"ignore the source's domain", []string{settingIgnoreDomainIDs, "0"}, settingIgnoreDomainIDs},
		{"ignore another domain", []string{settingIgnoreDomainIDs, "7"}, ""},
		{"ignore the replica's own server id", []string{settingIgnoreServerIDs, "2"}, ""},
		{"ignore another server id", []string{settingIgnoreServerIDs, "2,1"}, settingIgnoreServerIDs},
		{"skip marked events", []string{settingMarkedForSkip, "FILTER_ON_SLAVE"}, settingMarkedForSkip},
		{"replicate marked events", []string{settingMarkedForSkip, "replicate"}, ""},
	}
	for _, c := range cases {
		for _, flavor := range []Flavor{FlavorMariaDB, FlavorMySQL} {
			f := filters(flavor, c.settings...)
			p := f.LeavesOut(db, table)
			switch {
			case c.refused == "" && p != nil:
				t.Errorf("%s (%s): refused: %v", c.name, flavor, p)
			case c.refused != "" && p == nil:
				t.Errorf("%s (%s): not refused, want %s named", c.name, flavor, c.refused)
			case p != nil && !strings.HasPrefix(p.Setting, c.refused+"=") || p != nil && strings.Count(p.Error(), "; ") < 1:
				t.Errorf("%s (%s): refused naming %q: %v", c.name, flavor, p.Setting, p)
			}
		}
	}
	// With the source's domains unknown, any domain filter may leave them out.
	f := filters(FlavorMariaDB, settingIgnoreDomainIDs, "7")
	f.knowsServer(2, nil, false)
	if f.LeavesOut(db, table) == nil {
		t.Error("a domain filter passed with the source's domains unknown")
	}
}

// TestFilterRefusalSentences holds the sentences an operator acts on: the
// effect, the setting as the server reports it, where it was read, and the
// statements that remove it, keeping the rest of the filter.
func TestFilterRefusalSentences(t *testing.T) {
	const db, table = "jetmon_db", "jetpack_monitor_sites"
	f := filters(FlavorMariaDB, settingIgnoreTable, "a.b,jetmon_db.jetpack_monitor_sites")
	want := "the replica ignores jetmon_db.jetpack_monitor_sites (replicate_ignore_table='a.b,jetmon_db.jetpack_monitor_sites', replication connection ''): " +
		"its changes never reach the replica, so the bridge cannot see them; take the table out of the filter: STOP SLAVE; SET GLOBAL replicate_ignore_table='a.b'; START SLAVE " +
		"(and change the server's configuration file too, or a restart brings the filter back)"
	if got := f.LeavesOut(db, table).Error(); got != want {
		t.Errorf("MariaDB ignore-table refusal:\n got %s\nwant %s", got, want)
	}
	f = filters(FlavorMariaDB, settingWildIgnoreTable, "jet%.%")
	f.Connection = "jetmon"
	if got := f.LeavesOut(db, table).Error(); !strings.Contains(got, "STOP SLAVE 'jetmon'; SET @@default_master_connection='jetmon'; SET GLOBAL replicate_wild_ignore_table=''; START SLAVE 'jetmon'") {
		t.Errorf("named connection's refusal: %s", got)
	}
	f = filters(FlavorMySQL, settingDoTable, "jetmon_db.other")
	f.Where = "performance_schema.replication_applier_filters, channel ''"
	if got := f.LeavesOut(db, table).Error(); !strings.Contains(got, "STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_DO_TABLE = () FOR CHANNEL ''; START REPLICA SQL_THREAD") ||
		!strings.Contains(got, "add jetmon_db.jetpack_monitor_sites to replicate_do_table") {
		t.Errorf("MySQL do-table refusal: %s", got)
	}
	f = filters(FlavorMySQL, settingIgnoreDB, "otherdb")
	f.Global = true
	if got := f.LeavesOut(db, table).Error(); !strings.Contains(got, "CHANGE REPLICATION FILTER REPLICATE_IGNORE_DB = (), REPLICATE_WILD_IGNORE_TABLE = (otherdb.%); START REPLICA SQL_THREAD") ||
		strings.Contains(got, "FOR CHANNEL") || !strings.Contains(got, "USE otherdb; ALTER TABLE jetmon_db.jetpack_monitor_sites") {
		t.Errorf("MySQL global ignore-db refusal: %s", got)
	}
	b := BinlogFilters{IgnoreDB: "jetmon_db"}
	want = "the followed server leaves database jetmon_db out of its binlog (binlog_ignore_db='jetmon_db', SHOW MASTER STATUS): " +
		"every change to jetmon_db.jetpack_monitor_sites is left out of the binlog the bridge reads; take jetmon_db out of binlog_ignore_db, " +
		"or remove it from the followed server's configuration (it is a start-up option) and restart the server"
	if got := b.LeavesOut(db, table, true, FlavorMariaDB).Error(); got != want {
		t.Errorf("binlog_ignore_db refusal:\n got %s\nwant %s", got, want)
	}
}

// TestBinlogFilterRules judges binlog_do_db and binlog_ignore_db: rows of
// an excluded database never reach the binlog; a filter that keeps them
// still drops schema changes issued from another default database, which
// only binlog_row_metadata=FULL makes harmless.
func TestBinlogFilterRules(t *testing.T) {
	cases := []struct {
		do, ignore string
		full       bool
		refused    bool
	}{
		{"", "", false, false},
		{"jetmon_db", "", true, false},
		{"jetmon_db", "", false, true},
		{"otherdb", "", true, true},
		{"otherdb,jetmon_db", "", true, false},
		{"", "jetmon_db", true, true},
		{"", "JETMON_DB", true, true},
		{"", "otherdb", true, false},
		{"", "otherdb", false, true},
		{"jetmon_db", "jetmon_db", true, false}, // a do list decides alone
	}
	for _, c := range cases {
		p := BinlogFilters{DoDB: c.do, IgnoreDB: c.ignore}.LeavesOut("jetmon_db", "jetpack_monitor_sites", c.full, FlavorMariaDB)
		if (p != nil) != c.refused {
			t.Errorf("binlog_do_db=%q binlog_ignore_db=%q FULL=%v: refused=%v (%v), want %v", c.do, c.ignore, c.full, p != nil, p, c.refused)
		}
	}
}

func TestLikeMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"%", "", true},
		{"%", "anything.at_all", true},
		{"", "", true},
		{"", "a", false},
		{"a_c", "abc", true},
		{"a_c", "ac", false},
		{`a\_c`, "a_c", true},
		{`a\_c`, "abc", false},
		{`a\%`, "a%", true},
		{`a\%`, "ab", false},
		{`a\`, `a\`, true},
		{"%.%", "db.table", true},
		{"%.%", "dbtable", false},
		{"a%b%c", "aXXbYYc", true},
		{"a%b%c", "aXXcYYb", false},
		{"é_", "éé", true},
		{"%%%x", "yyyx", true},
	}
	for _, c := range cases {
		if got := likeMatch(c.pattern, c.name, true); got != c.want {
			t.Errorf("likeMatch(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
	if !likeMatch("JETMON%", "jetmon_db.x", false) || likeMatch("JETMON%", "jetmon_db.x", true) {
		t.Error("case folding")
	}
}

// likeRegexp is an independent reading of a LIKE pattern: a regular
// expression over the same characters.
func likeRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	runes := []rune(pattern)
	for i := 0; i < len(runes); i++ {
		c := runes[i]
		if c == '\\' && i+1 < len(runes) {
			i++
			b.WriteString(regexp.QuoteMeta(string(runes[i])))
			continue
		}
		switch c {
		case '%':
			b.WriteString(`.*`)
		case '_':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// FuzzLikeMatch compares the wild-table matcher with a regular expression
// built from the same pattern, and checks the filter rules' promise on any
// reported filter values: never a panic, and a table the filters keep is
// refused once it is added to replicate_ignore_table.
func FuzzLikeMatch(f *testing.F) {
	f.Add("jetmon%.%", "jetmon_db.jetpack_monitor_sites", "a.b", "x\\_y.%")
	f.Add(`a\_%`, "a_b", "jetmon_db.jetpack_monitor_sites,c.d", "%")
	f.Add("%_%", "", "", "")
	f.Fuzz(func(t *testing.T, pattern, name, list, wild string) {
		if utf8.ValidString(pattern) && utf8.ValidString(name) {
			if got, want := likeMatch(pattern, name, true), likeRegexp(pattern).MatchString(name); got != want {
				t.Fatalf("likeMatch(%q, %q) = %v, regexp says %v", pattern, name, got, want)
			}
		}
		const db, table = "jetmon_db", "jetpack_monitor_sites"
		for _, setting := range []string{settingDoTable, settingIgnoreTable, settingWildDoTable, settingWildIgnoreTable, settingDoDB, settingIgnoreDB, settingRewriteDB} {
			fs := filters(FlavorMariaDB, setting, list, settingWildIgnoreTable, wild)
			p := fs.LeavesOut(db, table)
			if p != nil {
				if p.Error() == "" || p.Setting == "" {
					t.Fatalf("an empty refusal for %s=%q", setting, list)
				}
				continue
			}
			if listHas(fs.DoTable, db+"."+table, true) {
				continue // a do-table match decides before ignore-table
			}
			fs.set(settingIgnoreTable, fs.raw[settingIgnoreTable]+","+db+"."+table)
			if fs.LeavesOut(db, table) == nil {
				t.Fatalf("%s=%q, wild ignore %q: the table added to replicate_ignore_table is not refused", setting, list, wild)
			}
		}
	})
}
