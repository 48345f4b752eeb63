package policies

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
	"github.com/tailgate-otel/tailgate/tailsampler/policy/policytest"
)

// spanSpec describes one span of a test trace.
type spanSpec struct {
	resAttrs   map[string]any
	attrs      map[string]any
	status     ptrace.StatusCode
	startMs    int64
	durMs      int64
	flags      uint32
	traceState string
	events     []string
}

// testTraceID ends in 0x10, so its decision latency is measured.
var testTraceID = pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

var testEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// buildTrace makes a trace with one ResourceSpans per span, so resource
// attributes can differ span by span.
func buildTrace(id pcommon.TraceID, specs ...spanSpec) *policytest.Trace {
	td := ptrace.NewTraces()
	for i, s := range specs {
		rs := td.ResourceSpans().AppendEmpty()
		_ = rs.Resource().Attributes().FromRaw(s.resAttrs)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{1})
		}
		sp.SetName("op")
		_ = sp.Attributes().FromRaw(s.attrs)
		sp.Status().SetCode(s.status)
		start := testEpoch.Add(time.Duration(s.startMs) * time.Millisecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(s.durMs) * time.Millisecond)))
		sp.SetFlags(s.flags)
		sp.TraceState().FromRaw(s.traceState)
		for _, e := range s.events {
			sp.Events().AppendEmpty().SetName(e)
		}
	}
	return policytest.NewTrace(td)
}

// loadPolicies decodes a `policies:` YAML document as the processor's
// config loader would (unknown keys rejected).
func loadPolicies(t testing.TB, yaml string) ([]PolicyCfg, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policies.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	conf, err := confmaptest.LoadConf(path)
	require.NoError(t, err)
	return decodePolicies(conf)
}

func decodePolicies(conf *confmap.Conf) ([]PolicyCfg, error) {
	var cfg struct {
		Policies []PolicyCfg `mapstructure:"policies"`
	}
	err := conf.Unmarshal(&cfg)
	return cfg.Policies, err
}

// mustPolicy builds the single policy described by a one-entry YAML list.
func mustPolicy(t testing.TB, yaml string, set policy.Settings) policy.Policy {
	t.Helper()
	cfgs, err := loadPolicies(t, yaml)
	require.NoError(t, err)
	require.Len(t, cfgs, 1)
	p, err := buildPolicy(&cfgs[0], "policies[0]", bindRegistry(Builtin()), normalizeSettings(set))
	require.NoError(t, err)
	return p
}

func evalPolicy(t testing.TB, p policy.Policy, tr policy.Trace) policy.Decision {
	t.Helper()
	d, err := p.Evaluate(context.Background(), tr)
	require.NoError(t, err)
	return d
}

// fakeClock is a settable clock for rate-limited policies.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
