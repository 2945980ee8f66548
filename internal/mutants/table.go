package mutants

import (
	"fmt"
	"regexp"
	"strings"
)

// Row is one row of docs/ARCHITECTURE.md's "Where each guarantee is
// tested" table.
type Row struct {
	Guarantee string   // the first cell, verbatim
	Tests     []string // the backticked test names of the second cell
	Line      int
}

// Cites reports whether the row names t as written.
func (r Row) Cites(t Test) bool {
	for _, c := range r.Tests {
		if c == t.Cited {
			return true
		}
	}
	return false
}

var backticked = regexp.MustCompile("`([^`]+)`")

// GuaranteeTable reads the table from the text of docs/ARCHITECTURE.md.
func GuaranteeTable(architecture string) ([]Row, error) {
	lines := strings.Split(architecture, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == "## Where each guarantee is tested" {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("docs/ARCHITECTURE.md has no \"## Where each guarantee is tested\" section")
	}
	var rows []Row
	inTable := false
	for i := start + 1; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "## ") {
			break
		}
		if !strings.HasPrefix(l, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		if strings.HasPrefix(l, "| guarantee |") || strings.HasPrefix(l, "|---") {
			continue
		}
		cells := strings.SplitN(strings.TrimSuffix(strings.TrimPrefix(l, "| "), " |"), " | ", 2)
		if len(cells) != 2 {
			return nil, fmt.Errorf("docs/ARCHITECTURE.md:%d: a guarantee row needs two cells: %q", i+1, l)
		}
		row := Row{Guarantee: cells[0], Line: i + 1}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			if _, err := ParseTest(m[1]); err == nil {
				row.Tests = append(row.Tests, m[1])
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("docs/ARCHITECTURE.md: the guarantee table has no rows")
	}
	return rows, nil
}
