// Package promnames reads the metric names a PromQL expression selects, so
// that tests can hold the shipped alerting rules and Grafana dashboard to the
// metrics the bridge exports (internal/metrics.Names). It is a lexer, not a
// parser: promtool and a real Prometheus check that the expressions parse;
// this package only finds the selectors' names, and refuses what it cannot
// read rather than guess.
package promnames

import (
	"fmt"
	"slices"
	"strings"
)

// keywords are PromQL words that are not metric names. Those in
// labelLists take a parenthesised list of label names next.
var (
	keywords = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true,
	}
	labelLists = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
)

// MetricNames returns the sorted metric names expr selects: bare selectors
// (rate(x[5m]) names x) and {__name__="x"} matchers. Function and
// aggregation names, label names, strings, durations and Grafana's
// $variables are not names.
func MetricNames(expr string) ([]string, error) {
	var names []string
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{':
			end, name, err := matchers(s, i)
			if err != nil {
				return nil, err
			}
			if name != "" {
				names = append(names, name)
			}
			i = end
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ at %d in %q", i, expr)
			}
			i += end + 1
		case c == '$':
			i = identEnd(s, i+1)
		case isDigit(c) || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			end := identEnd(s, i)
			word := s[i:end]
			i = end
			if keywords[word] {
				if labelLists[word] {
					if j := skipSpace(s, i); j < len(s) && s[j] == '(' {
						k := strings.IndexByte(s[j:], ')')
						if k < 0 {
							return nil, fmt.Errorf("unclosed label list after %s in %q", word, expr)
						}
						i = j + k + 1
					}
				}
				continue
			}
			if calls(s, i) {
				continue // a function or an aggregation
			}
			names = append(names, word)
		default:
			i++ // operators, parentheses, commas
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// calls tells whether the word that ends at s[i] is called: followed by
// "(", or by a by or without clause and then "(" (sum by (l) (x)).
func calls(s string, i int) bool {
	j := skipSpace(s, i)
	if j < len(s) && isIdentStart(s[j]) {
		k := identEnd(s, j)
		if w := s[j:k]; w != "by" && w != "without" {
			return false
		}
		l := skipSpace(s, k)
		if l >= len(s) || s[l] != '(' {
			return false
		}
		m := strings.IndexByte(s[l:], ')')
		if m < 0 {
			return false
		}
		j = skipSpace(s, l+m+1)
	}
	return j < len(s) && s[j] == '('
}

// matchers reads a {...} label matcher list from s[i] and returns the index
// after it and the metric name a __name__="x" matcher gives.
func matchers(s string, i int) (end int, name string, err error) {
	for j := i + 1; j < len(s); {
		switch c := s[j]; {
		case c == '}':
			return j + 1, name, nil
		case c == '"' || c == '\'' || c == '`':
			k, err := skipString(s, j)
			if err != nil {
				return 0, "", err
			}
			j = k
		case isIdentStart(c):
			k := identEnd(s, j)
			if s[j:k] == "__name__" {
				op := skipSpace(s, k)
				if op < len(s) && s[op] == '=' && (op+1 >= len(s) || (s[op+1] != '~' && s[op+1] != '=')) {
					v := skipSpace(s, op+1)
					w, err := skipString(s, v)
					if err != nil {
						return 0, "", err
					}
					name = s[v+1 : w-1]
				} else {
					return 0, "", fmt.Errorf("a __name__ matcher other than = in %q: name the metric", s)
				}
			}
			j = k
		default:
			j++
		}
	}
	return 0, "", fmt.Errorf("unclosed { at %d in %q", i, s)
}

// skipString returns the index after the quoted string at s[i].
func skipString(s string, i int) (int, error) {
	if i >= len(s) {
		return 0, fmt.Errorf("a string expected at the end of %q", s)
	}
	q := s[i]
	if q != '"' && q != '\'' && q != '`' {
		return 0, fmt.Errorf("a string expected at %d in %q", i, s)
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unclosed string at %d in %q", i, s)
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func identEnd(s string, i int) int {
	for i < len(s) && isIdent(s[i]) {
		i++
	}
	return i
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
