package policies

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func loadFile(t *testing.T, name string) []PolicyCfg {
	t.Helper()
	conf, err := confmaptest.LoadConf(filepath.Join("testdata", name))
	require.NoError(t, err)
	cfgs, err := decodePolicies(conf)
	require.NoError(t, err)
	return cfgs
}

func i64(v int64) *int64 { return &v }

func TestPolicyConfigDecodesSeedVerbatim(t *testing.T) {
	cfgs := loadFile(t, "policies_seed.yaml")
	require.Len(t, cfgs, 3)
	assert.Equal(t, "errors-policy", cfgs[0].Name)
	assert.Equal(t, []string{"ERROR"}, cfgs[0].StatusCode.StatusCodes)
	assert.Equal(t, int64(1000), cfgs[1].Latency.ThresholdMs)
	assert.InDelta(t, 10.0, cfgs[2].Probabilistic.SamplingPercentage, 0)
	require.NoError(t, Validate(cfgs, Builtin()))
}

func TestPolicyConfigDecodesEveryKey(t *testing.T) {
	cfgs := loadFile(t, "policies_all.yaml")
	require.NoError(t, Validate(cfgs, Builtin()))
	by := map[string]PolicyCfg{}
	for _, c := range cfgs {
		by[c.Name] = c
		assert.Empty(t, c.Extra, c.Name)
	}
	assert.Equal(t, LatencyCfg{ThresholdMs: 500, UpperThresholdMs: 10000}, by["slow"].Latency)
	assert.Equal(t, NumericAttributeCfg{Key: "http.status_code", MinValue: i64(400), MaxValue: i64(599), InvertMatch: true}, by["numeric"].NumericAttribute)
	assert.Nil(t, by["numeric-open"].NumericAttribute.MaxValue)
	assert.Equal(t, ProbabilisticCfg{HashSalt: "my-salt", SamplingPercentage: 10.5}, by["ten-percent"].Probabilistic)
	assert.Equal(t, []string{"ERROR", "UNSET", "OK"}, by["errors"].StatusCode.StatusCodes)
	assert.Equal(t, StringAttributeCfg{Key: "customer.tier", Values: []string{"pro", "ent.*"}, EnabledRegexMatching: true, CacheMaxSize: 64, InvertMatch: true}, by["tier"].StringAttribute)
	assert.Equal(t, RateLimitingCfg{SpansPerSecond: 35, BurstCapacity: 70}, by["rate"].RateLimiting)
	assert.Equal(t, BytesLimitingCfg{BytesPerSecond: 1 << 20, BurstCapacity: 4 << 20}, by["bytes"].BytesLimiting)
	assert.Equal(t, SpanCountCfg{MinSpans: 2, MaxSpans: 20}, by["count"].SpanCount)
	assert.Equal(t, TraceStateCfg{Key: "vendor", Values: []string{"v1", "v2"}}, by["state"].TraceState)
	assert.Equal(t, BooleanAttributeCfg{Key: "app.force_sample", Value: true}, by["forced"].BooleanAttribute)
	assert.Equal(t, OTTLConditionCfg{ErrorMode: "ignore", SpanConditions: []string{`attributes["http.method"] == "POST"`}, SpanEventConditions: []string{`name == "exception"`}}, by["ottl"].OTTLCondition)
	require.Len(t, by["both"].And.SubPolicies, 2)
	assert.Equal(t, "checkout", by["both"].And.SubPolicies[0].StringAttribute.Values[0])
	require.NotNil(t, by["not-health"].Not.SubPolicy)
	assert.Equal(t, "health", by["not-health"].Not.SubPolicy.Name)
	assert.Equal(t, []string{"/health", "/metrics"}, by["drop-health"].Drop.SubPolicies[0].StringAttribute.Values)
	c := by["budget"].Composite
	assert.Equal(t, int64(1000), c.MaxTotalSpansPerSecond)
	assert.Equal(t, []string{"c-errors", "c-slow", "c-rest"}, c.PolicyOrder)
	assert.Equal(t, []RateAllocationCfg{{"c-errors", 50}, {"c-slow", 25}}, c.RateAllocation)
	assert.Equal(t, int64(1000), c.SubPolicies[1].And.SubPolicies[0].Latency.ThresholdMs)
}

func TestPolicyConfigRejectsUnknownKeyInsideBlock(t *testing.T) {
	_, err := loadPolicies(t, `
policies:
  - name: slow
    type: latency
    latency: {threshold_ms: 5, treshold: 6}
`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "treshold")
}

func TestPolicyConfigMarshalRoundTrip(t *testing.T) {
	cfgs := loadFile(t, "policies_all.yaml")
	conf := confmap.New()
	require.NoError(t, conf.Marshal(map[string]any{"policies": cfgs}))
	back, err := decodePolicies(conf)
	require.NoError(t, err)
	assert.Equal(t, cfgs, back)
}

func TestPolicyConfigCustomBlockGoesToExtra(t *testing.T) {
	cfgs, err := loadPolicies(t, `
policies:
  - name: mine
    type: my_type
    my_type: {threshold: 3, labels: [a, b]}
`)
	require.NoError(t, err)
	require.Len(t, cfgs, 1)
	conf, err := cfgs[0].blockConf()
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"threshold": 3, "labels": []any{"a", "b"}}, conf.ToStringMap())
}
