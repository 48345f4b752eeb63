package monitoring

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"sigs.k8s.io/yaml"

	"github.com/tailgate-otel/tailgate/examples/internal/promtest"
	"github.com/tailgate-otel/tailgate/internal/telemetrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPromtool checks the rule file and runs its unit tests with
// Prometheus's own promtool.
func TestPromtool(t *testing.T) {
	promtool := promtest.Binary(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", RulesFile},
		{"test", "rules", RulesTestFile},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

func TestEmbeddedFilesAreTheShippedOnes(t *testing.T) {
	for name, embedded := range map[string][]byte{RulesFile: RulesYAML, DashboardFile: DashboardJSON} {
		onDisk, err := os.ReadFile(name)
		require.NoError(t, err)
		assert.Equal(t, string(onDisk), string(embedded), name)
	}
}

// alertTests returns, per alert name, whether the promtool tests have a
// case where it fires and one where it stays quiet.
func alertTests(t *testing.T) (fires, quiet map[string]bool) {
	t.Helper()
	raw, err := os.ReadFile(RulesTestFile)
	require.NoError(t, err)
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &f))
	fires, quiet = map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	return fires, quiet
}

// monitoringSection is the "Monitoring" section of examples/README.md.
func monitoringSection(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	_, sec, ok := strings.Cut(string(raw), "\n## Monitoring\n")
	require.True(t, ok, "examples/README.md has a Monitoring section")
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	return sec
}

// TestEveryAlertIsTestedAndHasARunbook: a severity, a summary and a
// description, a promtool case where it fires, and a runbook line in
// examples/README.md.
func TestEveryAlertIsTestedAndHasARunbook(t *testing.T) {
	rules, err := ParseRules(RulesYAML)
	require.NoError(t, err)
	fires, quiet := alertTests(t)
	readme := monitoringSection(t)
	var alerts int
	for _, r := range rules {
		if !r.Alert {
			continue
		}
		alerts++
		t.Run(r.Name, func(t *testing.T) {
			assert.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"])
			assert.NotEmpty(t, r.Annotations["summary"])
			assert.NotEmpty(t, r.Annotations["description"])
			assert.True(t, fires[r.Name], "%s has no promtool case where it fires", r.Name)
			assert.Regexp(t, regexp.MustCompile("(?m)^\\| `"+r.Name+"` \\|"), readme, "examples/README.md has no runbook row for %s", r.Name)
		})
	}
	assert.GreaterOrEqual(t, alerts, 10)
	assert.NotEmpty(t, quiet, "some cases check that alerts stay quiet")
}

func TestDashboardShape(t *testing.T) {
	d, err := ParseDashboard(DashboardJSON)
	require.NoError(t, err)
	assert.Equal(t, "tailgate-overview", d.UID)
	ids := map[int]bool{}
	for _, p := range d.Panels {
		assert.False(t, ids[p.ID], "panel id %d used twice", p.ID)
		ids[p.ID] = true
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			assert.Equal(t, "${datasource}", tg.Datasource, "%s/%s queries the chosen data source", p.Title, tg.RefID)
			assert.NotEmpty(t, MetricNames(tg.Expr), "%s/%s uses a metric", p.Title, tg.RefID)
			assert.NotContains(t, Instant(tg.Expr), "$", "%s/%s: every variable is substituted", p.Title, tg.RefID)
		}
	}
	assert.GreaterOrEqual(t, len(d.Panels), 20)
	assert.True(t, slices.ContainsFunc(d.Variables, func(v Variable) bool { return v.Type == "datasource" && v.Name == "datasource" }))
}

// TestMetricsAreDocumented: every tailgate metric the rules and the
// dashboard use is documented in its component's metadata.yaml, and every
// recording rule they use is defined.
func TestMetricsAreDocumented(t *testing.T) {
	documented := map[string]bool{}
	for _, c := range []string{"lbexporter", "resolver", "tailsampler", "spanmetrics"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", c, "metadata.yaml"))
		require.NoError(t, err)
		md, err := telemetrytest.ParseMetadata(raw)
		require.NoError(t, err, c)
		for key, m := range md.Telemetry.Metrics {
			name := telemetrytest.NamePrefix + key
			documented[name] = true
			if m.Histogram != nil {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					documented[name+s] = true
				}
			}
		}
	}
	rules, err := ParseRules(RulesYAML)
	require.NoError(t, err)
	recorded := map[string]bool{}
	exprs := map[string]string{} // expr -> where
	for _, r := range rules {
		if !r.Alert {
			recorded[r.Name] = true
		}
		exprs[r.Expr] = "rule " + r.Name
	}
	d, err := ParseDashboard(DashboardJSON)
	require.NoError(t, err)
	for _, e := range d.Exprs() {
		exprs[e] = "dashboard"
	}
	ours := regexp.MustCompile(`^otelcol_(loadbalancer|processor_tail_sampling|connector_span_metrics)_`)
	for expr, where := range exprs {
		for _, name := range MetricNames(expr) {
			switch {
			case strings.HasPrefix(name, "tailgate:"):
				assert.True(t, recorded[name], "%s uses %s, which no recording rule defines", where, name)
			case ours.MatchString(name):
				assert.True(t, documented[name], "%s uses %s, which no component's metadata.yaml documents", where, name)
			}
		}
	}
}

func TestMetricNames(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want []string
	}{
		{`sum by (le) (rate(otelcol_loadbalancer_backend_latency_bucket{namespace=~"$namespace"}[$__rate_interval]))`, []string{"otelcol_loadbalancer_backend_latency_bucket"}},
		{`tailgate:ring_members:spread > 0 and on() otelcol_a_b`, []string{"otelcol_a_b", "tailgate:ring_members:spread"}},
		{`label_replace(otelcol_x, "tier", "gateway", "", "") or otelcol_x`, []string{"otelcol_x"}},
		{`sum(rate(traces_span_metrics_calls_total[1m])) by (service_name)`, []string{"traces_span_metrics_calls_total"}},
		{`up{job="my_otelcol_agent"}`, nil},
		{`vector(1)`, nil},
	} {
		assert.Equal(t, tt.want, MetricNames(tt.expr), tt.expr)
	}
}

func TestInstant(t *testing.T) {
	assert.Equal(t, `rate(x{namespace=~".*",a=~".*"}[1m])`, Instant(`rate(x{namespace=~"$namespace",a=~"${a}"}[$__rate_interval])`))
}

func TestParseRulesErrors(t *testing.T) {
	for _, bad := range []string{
		"groups: [{name: g, rules: [{expr: x}]}]",
		"groups: [{name: g, rules: [{record: a, alert: b, expr: x}]}]",
		"groups: [{name: g, rules: [{alert: a, exprr: x}]}]",
		"groups: {}",
	} {
		_, err := ParseRules([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestParseDashboardVariables(t *testing.T) {
	d, err := ParseDashboard([]byte(`{"templating":{"list":[
		{"name":"a","type":"query","query":"label_values(otelcol_x, namespace)"},
		{"name":"b","type":"query","query":{"query":"up","refId":"b"}},
		{"name":"c","type":"datasource","query":"prometheus"}]},
		"panels":[{"type":"row","panels":[{"id":3,"type":"timeseries","title":"t","datasource":{"uid":"u"},"targets":[{"refId":"A","expr":"otelcol_y"}]}]}]}`))
	require.NoError(t, err)
	assert.Equal(t, []string{"otelcol_y", "otelcol_x", "up"}, d.Exprs())
	require.Len(t, d.Panels, 1)
	assert.Equal(t, "u", d.Panels[0].Targets[0].Datasource, "a target inherits its panel's data source")
	_, err = ParseDashboard([]byte(`{"templating":{"list":[{"name":"a","type":"query","query":7}]}}`))
	assert.Error(t, err)
}
