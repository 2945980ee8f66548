package promnames

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Dashboard is what the tests read of a Grafana dashboard: every panel's
// queries and every query variable's query.
type Dashboard struct {
	Queries   []Query
	Templates []string
}

// Query is one panel target.
type Query struct {
	Panel string
	// Datasource is the panel's data source uid (the dashboard's
	// "${datasource}" variable).
	Datasource string
	Expr       string
}

type dashboardPanel struct {
	Type, Title string
	Datasource  struct{ UID string }
	Targets     []struct{ Expr string }
	Panels      []dashboardPanel
}

// ReadDashboard reads a dashboard's JSON model, rows' nested panels
// included.
func ReadDashboard(model []byte) (Dashboard, error) {
	var d struct {
		Panels     []dashboardPanel
		Templating struct {
			List []struct {
				Name, Type string
				Query      json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(model, &d); err != nil {
		return Dashboard{}, fmt.Errorf("the dashboard is not JSON: %w", err)
	}
	var out Dashboard
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				out.Queries = append(out.Queries, Query{Panel: p.Title, Datasource: p.Datasource.UID, Expr: tg.Expr})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			return Dashboard{}, fmt.Errorf("template variable %s: %w", v.Name, err)
		}
		out.Templates = append(out.Templates, q.Query)
	}
	return out, nil
}

// Instantiate replaces the Grafana variables the dashboard's queries use
// with values Prometheus reads: every instance, a one-minute rate window.
func Instantiate(expr string) string {
	return strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*").Replace(expr)
}
