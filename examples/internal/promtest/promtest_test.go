package promtest

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a testing.TB that records Skipf and Fatalf and stops the
// calling goroutine, as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(string, ...any) {
	r.skipped = true
	runtime.Goexit()
}
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	runtime.Goexit()
}

func TestBinaryMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tt := range []struct {
		name    string
		require string
		skipped bool
		failed  bool
	}{
		{"skipped locally", "", true, false},
		{"failure where required", "1", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tt.require)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Binary(r, "promtool")
			}()
			<-done
			assert.Equal(t, tt.skipped, r.skipped, "skipped")
			assert.Equal(t, tt.failed, r.failed, "failed")
		})
	}
}

// TestServer runs a real prometheus scraping itself, with one recording
// and one alerting rule, and reads everything back through the API.
func TestServer(t *testing.T) {
	ctx := context.Background()
	rules := []byte(`groups:
  - name: test
    rules:
      - record: test:up:sum
        expr: sum(up)
      - alert: AlwaysFiring
        expr: vector(1)
      - alert: Broken
        expr: 'count_over_time({__name__=~".+"}[1s]) / on() group_left count(up)'
`)
	s := Start(t, func(addr string) string {
		return `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
  - job_name: self
    static_configs: [{targets: ["` + addr + `"]}]
`
	}, map[string][]byte{"rules.yaml": rules})

	require.Eventually(t, func() bool {
		names, err := s.MetricNames(ctx)
		return err == nil && slices.Contains(names, "up") && slices.Contains(names, "test:up:sum")
	}, 30*time.Second, 200*time.Millisecond, "prometheus scrapes itself and records test:up:sum")

	n, err := s.Query(ctx, `up{job="self"}`)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.Query(ctx, `sum(`)
	assert.Error(t, err, "a bad expression is an error")
	_, err = s.Query(ctx, `"a string"`)
	assert.ErrorIs(t, err, ErrNotVector)

	targets, err := s.Targets(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"http://" + s.URL[len("http://"):] + "/metrics": "up"}, targets)

	require.Eventually(t, func() bool {
		alerts, err := s.Alerts(ctx)
		return err == nil && slices.ContainsFunc(alerts, func(a Alert) bool {
			return a.Labels["alertname"] == "AlwaysFiring" && a.State == "firing"
		})
	}, 10*time.Second, 200*time.Millisecond)
	rs, err := s.Rules(ctx)
	require.NoError(t, err)
	require.Len(t, rs, 3)
	assert.Equal(t, Rule{Name: "test:up:sum", Type: "recording", Health: "ok"}, rs[0])
	assert.Equal(t, "AlwaysFiring", rs[1].Name)
	assert.Equal(t, "alerting", rs[1].Type)
	assert.Equal(t, "ok", rs[1].Health)
	require.Eventually(t, func() bool {
		rs, err := s.Rules(ctx)
		return err == nil && rs[2].Health == "err" && rs[2].LastError != ""
	}, 10*time.Second, 200*time.Millisecond, "a rule that fails to evaluate reports its error")
}
