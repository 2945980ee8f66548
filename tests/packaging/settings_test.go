package packaging

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// daemonFlag is one of the daemon's flags as its -h describes it.
type daemonFlag struct {
	name string
	kind string // the value's type as -h prints it: string, duration, int, uint; "bool" when it prints none
	// def is the default; "" when -h prints none, which the flag package
	// does only for a zero value.
	def string
}

// zero reports whether the flag's default is its type's zero value.
func (f daemonFlag) zero() bool { return f.def == "" }

// daemonFlags reads the daemon's flags, with their types and defaults,
// from jetmon-bridge -h: what the flag package prints from the flag
// definitions themselves.
func daemonFlags(t *testing.T) map[string]daemonFlag {
	t.Helper()
	usage := help(t, "jetmon-bridge")
	head := regexp.MustCompile(`^  -([a-z][a-z0-9-]*)(?: ([a-z]+))?$`)
	def := regexp.MustCompile(`\(default (.*)\)$`)
	flags := map[string]daemonFlag{}
	var current *daemonFlag
	done := func() {
		if current != nil {
			flags[current.name] = *current
		}
	}
	for _, line := range strings.Split(usage, "\n") {
		if m := head.FindStringSubmatch(line); m != nil {
			done()
			current = &daemonFlag{name: m[1], kind: m[2]}
			if current.kind == "" {
				current.kind = "bool"
			}
			continue
		}
		if current == nil || !strings.HasPrefix(line, "    \t") {
			continue
		}
		if m := def.FindStringSubmatch(line); m != nil {
			current.def = m[1]
			if current.kind == "string" {
				s, err := strconv.Unquote(m[1])
				if err != nil {
					t.Fatalf("-%s's default %s is not quoted as the flag package quotes strings: has -h's form changed?", current.name, m[1])
				}
				current.def = s
			}
		}
	}
	done()
	if len(flags) < 8 {
		t.Fatalf("jetmon-bridge -h lists only %d flags: has its form changed?\n%s", len(flags), usage)
	}
	return flags
}

// sameValue reports whether a documented value is the value the code
// has, read as the flag's type reads it: 2m is 2m0s.
func sameValue(kind, code, doc string) bool {
	switch kind {
	case "duration":
		c, err1 := time.ParseDuration(code)
		d, err2 := time.ParseDuration(doc)
		return err1 == nil && err2 == nil && c == d
	case "int", "uint":
		c, err1 := strconv.ParseInt(code, 10, 64)
		d, err2 := strconv.ParseInt(doc, 10, 64)
		return err1 == nil && err2 == nil && c == d
	case "bool":
		if code == "" {
			code = "false"
		}
		c, err1 := strconv.ParseBool(code)
		d, err2 := strconv.ParseBool(doc)
		return err1 == nil && err2 == nil && c == d
	}
	return code == doc
}

// zeroValue is a type's zero value as the documents write it.
func zeroValue(kind string) string {
	switch kind {
	case "duration":
		return "0s"
	case "int", "uint":
		return "0"
	case "bool":
		return "false"
	}
	return ""
}

var codeSpan = regexp.MustCompile("`([^`\n]*)`")

// TestSettingsTableMatchesTheFlags holds the settings table of
// docs/operations.md to the daemon's flag definitions: one row per flag and
// none for a flag that does not exist, each with the flag's JETMON_
// variable and its real default. A default is written as code (`5s`,
// `""`), or, for a flag whose default is its zero value, in words
// ("(required)", "chosen once, kept in the journal"). So changing a
// default in the code without the table fails here.
func TestSettingsTableMatchesTheFlags(t *testing.T) {
	flags := daemonFlags(t)
	section := markdownSection(t, read(t, "docs/operations.md"), "### Settings")
	row := regexp.MustCompile("^\\| `-([a-z][a-z0-9-]*)` \\|([^|]*)\\|([^|]*)\\|")
	seen := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, variable, def := m[1], strings.TrimSpace(m[2]), strings.TrimSpace(m[3])
		if seen[name] {
			t.Errorf("docs/operations.md's settings table has two rows for -%s", name)
		}
		seen[name] = true
		f, ok := flags[name]
		if !ok {
			t.Errorf("docs/operations.md's settings table documents -%s, which the daemon does not define", name)
			continue
		}
		if want := "`" + envName(name) + "`"; variable != want {
			t.Errorf("docs/operations.md: -%s's variable is %s, want %s", name, variable, want)
		}
		if problem := checkDefault(f, def); problem != "" {
			t.Errorf("docs/operations.md: -%s %s", name, problem)
		}
	}
	for name := range flags {
		if !seen[name] {
			t.Errorf("docs/operations.md's settings table has no row for -%s", name)
		}
	}
}

// checkDefault compares a documented default with the flag's: the first
// code in it is the value; words alone stand for the zero value.
func checkDefault(f daemonFlag, doc string) string {
	m := codeSpan.FindStringSubmatch(doc)
	if m == nil {
		if !f.zero() {
			return "has the default " + strconv.Quote(f.def) + " in the code, but the table gives " + strconv.Quote(doc) + " (write it as code)"
		}
		return ""
	}
	value := m[1]
	if f.kind == "string" {
		if s, err := strconv.Unquote(value); err == nil {
			value = s
		}
	}
	code := f.def
	if f.zero() {
		code = zeroValue(f.kind)
	}
	if !sameValue(f.kind, code, value) {
		return "has the default " + strconv.Quote(code) + " in the code, but the table says `" + m[1] + "`"
	}
	return ""
}

// markdownSection returns the text under heading, up to the next heading of
// the same or a higher level.
func markdownSection(t *testing.T, text, heading string) string {
	t.Helper()
	level := strings.Count(strings.Fields(heading)[0], "#")
	start := strings.Index(text, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("no section %q", heading)
	}
	rest := text[start+len(heading)+2:]
	next := regexp.MustCompile(`(?m)^#{1,` + strconv.Itoa(level) + `} `).FindStringIndex(rest)
	if next != nil {
		rest = rest[:next[0]]
	}
	return rest
}

// TestSettingsSamplesMatchTheFlags holds the settings samples
// (docker/.env-sample, systemd/env.sample) to the flags: every JETMON_
// variable they name backs a flag and has one entry, and every default
// they state, as a commented-out assignment ("#JETMON_HEARTBEAT=30s") or in
// words ("Default 30s."), is the one the bridge has there: the flag's, or
// the systemd unit's where the unit sets the variable.
func TestSettingsSamplesMatchTheFlags(t *testing.T) {
	flags := daemonFlags(t)
	unit := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^Environment=(JETMON_[A-Z_]+)=(.*)$`).FindAllStringSubmatch(read(t, unitPath), -1) {
		unit[m[1]] = m[2]
	}
	variables := map[string]daemonFlag{}
	for _, f := range flags {
		variables[envName(f.name)] = f
	}
	assignment := regexp.MustCompile(`^(#?)(JETMON_[A-Z_]+)=(.*)$`)
	stated := regexp.MustCompile(`\bDefault ([^\s(][^\s]*)`)
	for _, file := range []string{"docker/.env-sample", "systemd/env.sample"} {
		text := read(t, file)
		for _, m := range regexp.MustCompile(`(^|[^=])\b(JETMON_[A-Z_]*[A-Z])\b`).FindAllStringSubmatch(text, -1) {
			if v := m[2]; variables[v].name == "" { // (a value, =JETMON_TRANSITIONS, is none)
				t.Errorf("%s names %s, which backs no flag of the daemon", file, v)
			}
		}
		var defaults []string // stated in the comments above the next assignment
		checked := 0
		assigned := map[string]bool{}
		for _, line := range strings.Split(text, "\n") {
			if m := assignment.FindStringSubmatch(line); m != nil {
				if assigned[m[2]] {
					t.Errorf("%s has two entries for %s: keep one", file, m[2])
				}
				assigned[m[2]] = true
				f, ok := variables[m[2]]
				if !ok {
					continue // reported above
				}
				want, where := f.def, "the flag's default"
				if f.zero() {
					want = zeroValue(f.kind)
				}
				if file == "systemd/env.sample" && unit[m[2]] != "" {
					want, where = unit[m[2]], unitPath+"'s value"
				}
				values := defaults
				if m[1] == "#" && m[3] != "" {
					values = append(values, m[3]) // a commented-out line shows the default
				}
				for _, v := range values {
					checked++
					if !sameValue(f.kind, want, v) {
						t.Errorf("%s gives %s the default %q, but %s is %q", file, m[2], v, where, want)
					}
				}
				defaults = nil
				continue
			}
			if strings.HasPrefix(line, "#") {
				for _, m := range stated.FindAllStringSubmatch(line, -1) {
					defaults = append(defaults, strings.TrimRight(m[1], ".,;:"))
				}
			}
		}
		if checked < 5 {
			t.Errorf("%s: only %d defaults found to check: has the sample's form changed, or this test's patterns?", file, checked)
		}
	}
}
