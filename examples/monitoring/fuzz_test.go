package monitoring

import (
	"testing"
)

// The parsers never panic on any input.
func FuzzParseRules(f *testing.F) {
	f.Add(RulesYAML)
	f.Add([]byte("groups: [{name: g, rules: [{alert: a, expr: x, labels: {a: b}}]}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rules, err := ParseRules(b)
		if err == nil {
			for _, r := range rules {
				_ = MetricNames(r.Expr)
			}
		}
	})
}

func FuzzParseDashboard(f *testing.F) {
	f.Add(DashboardJSON)
	f.Add([]byte(`{"templating":{"list":[{"type":"query","query":{"query":"label_values(a,b)"}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDashboard(b)
		if err == nil {
			for _, e := range d.Exprs() {
				_ = Instant(e)
				_ = MetricNames(e)
			}
		}
	})
}
