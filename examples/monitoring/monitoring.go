package monitoring

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The shipped files, as embedded at build time.
var (
	//go:embed tailgate-rules.yaml
	RulesYAML []byte
	//go:embed tailgate-dashboard.json
	DashboardJSON []byte
)

// File names of the shipped files, for tools that load them from disk.
const (
	RulesFile     = "tailgate-rules.yaml"
	RulesTestFile = "tailgate-rules.test.yaml"
	DashboardFile = "tailgate-dashboard.json"
)

// Rule is one recording or alerting rule.
type Rule struct {
	Group       string
	Name        string // the record or alert name
	Alert       bool
	Expr        string
	For         string
	Labels      map[string]string
	Annotations map[string]string
}

// ParseRules reads a Prometheus rule file.
func ParseRules(raw []byte) ([]Rule, error) {
	var f struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Record      string            `json:"record"`
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return nil, err
	}
	var out []Rule
	for _, g := range f.Groups {
		for i, r := range g.Rules {
			if (r.Record == "") == (r.Alert == "") {
				return nil, fmt.Errorf("group %s rule %d: exactly one of record and alert", g.Name, i)
			}
			out = append(out, Rule{
				Group: g.Name, Name: r.Record + r.Alert, Alert: r.Alert != "", Expr: r.Expr,
				For: r.For, Labels: r.Labels, Annotations: r.Annotations,
			})
		}
	}
	return out, nil
}

// Dashboard is what the tests need of a Grafana dashboard.
type Dashboard struct {
	UID       string
	Title     string
	Panels    []Panel
	Variables []Variable
}

// Panel is one graph panel (rows are flattened away).
type Panel struct {
	ID      int
	Title   string
	Targets []Target
}

// Target is one query of a panel.
type Target struct {
	RefID      string
	Expr       string
	Datasource string // uid
}

// Variable is a templating variable; Query is the PromQL of a query
// variable.
type Variable struct {
	Name  string
	Type  string
	Query string
}

type rawPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []rawPanel `json:"panels"`
}

// ParseDashboard reads a Grafana dashboard JSON model.
func ParseDashboard(raw []byte) (*Dashboard, error) {
	var d struct {
		UID        string     `json:"uid"`
		Title      string     `json:"title"`
		Panels     []rawPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	out := &Dashboard{UID: d.UID, Title: d.Title}
	var walk func([]rawPanel)
	walk = func(ps []rawPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			panel := Panel{ID: p.ID, Title: p.Title}
			for _, t := range p.Targets {
				tg := Target{RefID: t.RefID, Expr: t.Expr}
				switch {
				case t.Datasource != nil:
					tg.Datasource = t.Datasource.UID
				case p.Datasource != nil:
					tg.Datasource = p.Datasource.UID
				}
				panel.Targets = append(panel.Targets, tg)
			}
			out.Panels = append(out.Panels, panel)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		vr := Variable{Name: v.Name, Type: v.Type}
		if v.Type == "query" && len(v.Query) > 0 {
			// Either a string or {"query": "...", "refId": ...}.
			var s string
			if json.Unmarshal(v.Query, &s) != nil {
				var q struct {
					Query string `json:"query"`
				}
				if err := json.Unmarshal(v.Query, &q); err != nil {
					return nil, fmt.Errorf("variable %s: %w", v.Name, err)
				}
				s = q.Query
			}
			vr.Query = s
		}
		out.Variables = append(out.Variables, vr)
	}
	return out, nil
}

// Exprs returns every PromQL expression of the dashboard: panel targets
// and the queries of query variables (label_values(metric, label) is
// returned as the metric selector).
func (d *Dashboard) Exprs() []string {
	var out []string
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, t.Expr)
		}
	}
	for _, v := range d.Variables {
		if m := labelValues.FindStringSubmatch(v.Query); m != nil {
			out = append(out, strings.TrimSpace(m[1]))
		} else if v.Query != "" {
			out = append(out, v.Query)
		}
	}
	return out
}

var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)

// metricName matches the names this repository's rules and dashboard use:
// the collectors' self-metrics, the span metrics' Prometheus names and
// our recording rules.
var metricName = regexp.MustCompile(`\b(?:otelcol_[a-z0-9_]+|traces_span_metrics_[a-z0-9_]+|tailgate:[a-z0-9_:]*[a-z0-9_])`)

// MetricNames returns the distinct metric names expr uses, sorted. Only
// names of the families above are recognised; a label value that looks
// like one is returned too (none of ours does).
func MetricNames(expr string) []string {
	names := metricName.FindAllString(expr, -1)
	slices.Sort(names)
	return slices.Compact(names)
}

// Instant makes a dashboard expression evaluable by Prometheus alone:
// Grafana's variables get the values the tests use ($__rate_interval one
// minute, every other variable "match anything").
func Instant(expr string) string {
	expr = strings.ReplaceAll(expr, "$__rate_interval", "1m")
	return dashboardVar.ReplaceAllString(expr, ".*")
}

var dashboardVar = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)
