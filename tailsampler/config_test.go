package tailsampler

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
)

func ptr[T any](v T) *T { return &v }

func TestDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	assert.Equal(t, 30*time.Second, cfg.DecisionWait)
	assert.Equal(t, time.Duration(0), cfg.DecisionWaitAfterRootReceived)
	assert.Equal(t, uint64(50_000), cfg.NumTraces)
	assert.Equal(t, uint64(0), cfg.ExpectedNewTracesPerSec)
	assert.False(t, cfg.BlockOnOverflow)
	assert.False(t, cfg.SampleOnFirstMatch)
	assert.False(t, cfg.DropPendingTracesOnShutdown)
	assert.False(t, cfg.RecordPolicy)
	assert.Equal(t, StrategyTraceComplete, cfg.SamplingStrategy)
	assert.Equal(t, DecisionCacheConfig{SampledCacheSize: 100_000, NonSampledCacheSize: 100_000}, cfg.DecisionCache)
	// Policies are required, as upstream.
	require.ErrorContains(t, cfg.Validate(), "policies: at least one policy is required")
	assert.Equal(t, "tail_sampling", NewFactory().Type().String())
}

func TestSeedGatewayConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "seed_gateway.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("tail_sampling")
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, 30*time.Second, cfg.DecisionWait)
	assert.Equal(t, uint64(50_000), cfg.NumTraces)
	assert.Equal(t, uint64(1000), cfg.ExpectedNewTracesPerSec)
	assert.Equal(t, DecisionCacheConfig{SampledCacheSize: 100_000, NonSampledCacheSize: 100_000}, cfg.DecisionCache)
	require.Len(t, cfg.Policies, 3)
	assert.Equal(t, "errors-policy", cfg.Policies[0].Name)

	// The processor builds and runs with it.
	p, err := NewFactory().CreateTraces(context.Background(), newNopSettings(), cfg, nopSink())
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestSeedCollectorConfig(t *testing.T) {
	factories, err := otelcoltest.NopFactories()
	require.NoError(t, err)
	factories.Processors[componentType] = NewFactory()
	col, err := otelcoltest.LoadConfigAndValidate(filepath.Join("testdata", "seed_collector.yaml"), factories)
	require.NoError(t, err)
	seed := col.Processors[component.NewID(componentType)].(*Config)
	assert.Equal(t, uint64(100_000), seed.DecisionCache.SampledCacheSize)
	up := col.Processors[component.NewIDWithName(componentType, "upstream_spelling")].(*Config)
	assert.Equal(t, DecisionCacheConfig{SampledCacheSize: 5000, NonSampledCacheSize: 7000}, up.DecisionCache)
	assert.Equal(t, StrategySpanIngest, up.SamplingStrategy)
	assert.Equal(t, 4, up.NumShards)
}

func TestCacheKeySpellings(t *testing.T) {
	tests := []struct {
		name    string
		raw     map[string]any
		want    DecisionCacheConfig
		wantErr string
	}{
		{
			name: "flat only",
			raw:  map[string]any{"sampled_cache_size": 10, "non_sampled_cache_size": 20},
			want: DecisionCacheConfig{SampledCacheSize: 10, NonSampledCacheSize: 20},
		},
		{
			name: "nested only",
			raw:  map[string]any{"decision_cache": map[string]any{"sampled_cache_size": 30, "non_sampled_cache_size": 40}},
			want: DecisionCacheConfig{SampledCacheSize: 30, NonSampledCacheSize: 40},
		},
		{
			name: "both, equal",
			raw: map[string]any{"sampled_cache_size": 50,
				"decision_cache": map[string]any{"sampled_cache_size": 50}},
			want: DecisionCacheConfig{SampledCacheSize: 50, NonSampledCacheSize: defaultNonSampledCacheSize},
		},
		{
			name: "both, different",
			raw: map[string]any{"non_sampled_cache_size": 1,
				"decision_cache": map[string]any{"non_sampled_cache_size": 2}},
			wantErr: "non_sampled_cache_size (1) and decision_cache::non_sampled_cache_size (2)",
		},
		{
			name: "zero turns a cache off",
			raw:  map[string]any{"decision_cache": map[string]any{"sampled_cache_size": 0}},
			want: DecisionCacheConfig{SampledCacheSize: 0, NonSampledCacheSize: defaultNonSampledCacheSize},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.raw["policies"] = []any{map[string]any{"name": "a", "type": "always_sample"}}
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			require.NoError(t, confmap.NewFromStringMap(tt.raw).Unmarshal(cfg))
			err := cfg.Validate()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorIs(t, err, ErrInvalidConfig)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.DecisionCache)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.DecisionWait = 0
	cfg.DecisionWaitAfterRootReceived = -time.Second
	cfg.NumTraces = 0
	cfg.NumShards = 257
	cfg.SamplingStrategy = "eventually"
	cfg.Policies = []PolicyCfg{{Name: "x", Type: "no_such_type"}}
	err := cfg.Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	for _, want := range []string{
		"decision_wait: must be positive",
		"decision_wait_after_root_received: must not be negative",
		"num_traces: must be positive",
		"num_shards: must be between 1 and 256",
		`sampling_strategy: must be "trace-complete" or "span-ingest", got "eventually"`,
		"policies[0] (x)",
	} {
		assert.ErrorContains(t, err, want)
	}
}

func TestUnknownKeysRejected(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	err := confmap.NewFromStringMap(map[string]any{"decision_wiat": "1s"}).Unmarshal(cfg)
	require.ErrorContains(t, err, "decision_wiat")
}

func TestCustomPolicyTypes(t *testing.T) {
	f := NewFactory(WithPolicyType("keep_marked", keepMarked))
	cfg := f.CreateDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"policies": []any{map[string]any{"name": "m", "type": "keep_marked"}},
	}).Unmarshal(cfg))
	require.NoError(t, cfg.Validate())

	// Unknown to a factory without the registration.
	other := NewFactory().CreateDefaultConfig().(*Config)
	other.Policies = cfg.Policies
	require.Error(t, other.Validate())

	for _, bad := range []Option{
		WithPolicyType("always_sample", keepMarked),
		WithPolicyType("", keepMarked),
		WithPolicyType("nil_factory", nil),
	} {
		c := NewFactory(bad).CreateDefaultConfig().(*Config)
		c.Policies = []PolicyCfg{{Name: "a", Type: "always_sample"}}
		require.ErrorIs(t, c.Validate(), ErrInvalidConfig)
	}
	twice := NewFactory(WithPolicyType("x", keepMarked), WithPolicyType("x", keepMarked)).CreateDefaultConfig().(*Config)
	twice.Policies = []PolicyCfg{{Name: "a", Type: "always_sample"}}
	require.ErrorContains(t, twice.Validate(), `policy type "x": registered twice`)
}

// span-ingest refuses stateful policies, at every level of nesting, naming
// each; trace-complete takes them all.
func TestValidateSpanIngestRefusesStatefulPolicies(t *testing.T) {
	conf, err := confmaptest.LoadConf(filepath.Join("testdata", "policies_stateful.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, conf.Unmarshal(cfg))
	require.NoError(t, cfg.Validate(), "trace-complete takes every policy")

	cfg.SamplingStrategy = StrategySpanIngest
	err = cfg.Validate()
	require.ErrorIs(t, err, ErrStatefulPolicy)
	for _, want := range []string{"policies[1] (budget)", "policies[2] (band)", "policies[4] (small)", "policies[5] (bytes)", "policies[6] (c)", "policies[7] (a)", "policies[8] (n)"} {
		assert.Contains(t, err.Error(), want)
	}
	for _, stateless := range []string{"(errors)", "(slow)", "(d)"} {
		assert.NotContains(t, err.Error(), stateless)
	}

	// A processor built without Validate refuses them too.
	_, err = NewFactory().CreateTraces(context.Background(), newNopSettings(), cfg, nopSink())
	require.ErrorIs(t, err, ErrStatefulPolicy)
}
