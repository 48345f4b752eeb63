package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.opentelemetry.io/collector/pipeline"
	"go.uber.org/goleak"

	"github.com/tailgate-otel/tailgate/lbexporter"
	"github.com/tailgate-otel/tailgate/spanmetrics"
	"github.com/tailgate-otel/tailgate/tailsampler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func factories(t *testing.T) otelcol.Factories {
	t.Helper()
	f, err := components()
	require.NoError(t, err)
	return f
}

func load(t *testing.T, path string) (*otelcol.Config, error) {
	t.Helper()
	return otelcoltest.LoadConfigAndValidate(path, factories(t))
}

func TestDistributionHasTheComponentsTheConfigsNeed(t *testing.T) {
	f := factories(t)
	for _, ty := range []string{"otlp"} {
		assert.Contains(t, f.Receivers, component.MustNewType(ty), "receiver %s", ty)
	}
	for _, ty := range []string{"batch", "memory_limiter", "tail_sampling"} {
		assert.Contains(t, f.Processors, component.MustNewType(ty), "processor %s", ty)
	}
	for _, ty := range []string{"otlp_grpc", "debug", "prometheus", "load_balancing"} {
		assert.Contains(t, f.Exporters, component.MustNewType(ty), "exporter %s", ty)
	}
	assert.Contains(t, f.Connectors, component.MustNewType("span_metrics"))
	// Upstream's historical names, which the article uses, are module-mapped
	// too (the generated makeModulesMap records aliases).
	assert.Contains(t, f.ExporterModules, component.MustNewType("loadbalancing"))
	assert.Contains(t, f.ConnectorModules, component.MustNewType("spanmetrics"))
}

// TestEveryConfigLoadsAndValidates loads every file of examples/configs with
// the distribution's factories, as `tailgate-collector --config` does.
func TestEveryConfigLoadsAndValidates(t *testing.T) {
	files, err := filepath.Glob("../configs/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 9)
	t.Setenv("POD_IP", "10.0.0.7") // gateway-config-handoff.yaml names itself by it
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := load(t, f)
			require.NoError(t, err)
			require.NoError(t, cfg.Validate())
		})
	}
}

func TestSeedAgentConfig(t *testing.T) {
	cfg, err := load(t, "../configs/agent-config.yaml")
	require.NoError(t, err)
	lbID := component.MustNewID("loadbalancing")
	lb, ok := cfg.Exporters[lbID].(*lbexporter.Config)
	require.True(t, ok, "loadbalancing is decoded by tailgate's exporter, got %T", cfg.Exporters[lbID])
	assert.Equal(t, "traceID", lb.RoutingKey)
	require.NotNil(t, lb.Resolver.DNS)
	assert.Nil(t, lb.Resolver.Static)
	assert.Equal(t, "gateway-collector-headless.observability.svc.cluster.local", lb.Resolver.DNS.Hostname)
	assert.EqualValues(t, 4317, lb.Resolver.DNS.Port, "the article writes the port as a YAML integer")
	assert.Equal(t, 5*time.Second, lb.Resolver.DNS.Interval)
	assert.Equal(t, time.Second, lb.Resolver.DNS.Timeout)
	assert.True(t, lb.Protocol.OTLP.ClientConfig.TLS.Insecure)

	p := cfg.Service.Pipelines[pipeline.NewID(pipeline.SignalTraces)]
	require.NotNil(t, p)
	assert.Equal(t, []component.ID{lbID}, p.Exporters)
	for _, id := range p.Processors {
		assert.NotEqual(t, "tail_sampling", id.Type().String(), "the article's first mistake: no tail sampling on agents")
	}
}

func TestSeedGatewayConfig(t *testing.T) {
	cfg, err := load(t, "../configs/gateway-config.yaml")
	require.NoError(t, err)
	ts, ok := cfg.Processors[component.MustNewID("tail_sampling")].(*tailsampler.Config)
	require.True(t, ok)
	assert.Equal(t, 30*time.Second, ts.DecisionWait)
	assert.EqualValues(t, 50000, ts.NumTraces)
	assert.EqualValues(t, 1000, ts.ExpectedNewTracesPerSec)
	// The article writes the cache sizes directly under tail_sampling.
	assert.EqualValues(t, 100000, ts.DecisionCache.SampledCacheSize)
	assert.EqualValues(t, 100000, ts.DecisionCache.NonSampledCacheSize)
	require.Len(t, ts.Policies, 3)
	assert.Equal(t, []string{"ERROR"}, ts.Policies[0].StatusCode.StatusCodes)
	assert.EqualValues(t, 1000, ts.Policies[1].Latency.ThresholdMs)
	assert.InDelta(t, 10, ts.Policies[2].Probabilistic.SamplingPercentage, 1e-9)

	sm, ok := cfg.Connectors[component.MustNewID("spanmetrics")].(*spanmetrics.Config)
	require.True(t, ok)
	require.NotNil(t, sm.Histogram.Explicit)
	assert.Equal(t, []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second}, sm.Histogram.Explicit.Buckets)
	require.Len(t, sm.Dimensions, 2)
	assert.Equal(t, "http.method", sm.Dimensions[0].Name)
	assert.Equal(t, "http.status_code", sm.Dimensions[1].Name)

	pl := cfg.Service.Pipelines
	metricsIn := pl[pipeline.NewIDWithName(pipeline.SignalTraces, "metrics")]
	sampling := pl[pipeline.NewIDWithName(pipeline.SignalTraces, "sampling")]
	out := pl[pipeline.NewID(pipeline.SignalMetrics)]
	require.NotNil(t, metricsIn)
	require.NotNil(t, sampling)
	require.NotNil(t, out)
	assert.Equal(t, metricsIn.Receivers, sampling.Receivers, "both trace pipelines share the receiver")
	assert.NotContains(t, metricsIn.Processors, component.MustNewID("tail_sampling"), "span metrics count spans before sampling")
	assert.Contains(t, sampling.Processors, component.MustNewID("tail_sampling"))
	assert.Equal(t, []component.ID{component.MustNewID("spanmetrics")}, metricsIn.Exporters)
	assert.Equal(t, []component.ID{component.MustNewID("spanmetrics")}, out.Receivers)
	assert.Equal(t, []component.ID{component.MustNewID("prometheus")}, out.Exporters)
}

// TestLoopbackVariantsChangeOnlyAddresses compares each loopback variant with
// its seed file once both are loaded: they must differ only in addresses
// (and the variants' own telemetry and tls blocks, which the files explain).
func TestLoopbackVariantsChangeOnlyAddresses(t *testing.T) {
	t.Setenv("GATEWAY_HOST", "127.0.0.9")
	t.Setenv("BACKEND_ENDPOINT", "127.0.0.1:14317")
	t.Setenv("AGENT_HOST", "127.0.0.8")
	t.Setenv("GATEWAY_HOSTNAME", "gateways.test")
	t.Setenv("DNS_NAMESERVER", "127.0.0.1:1053")

	seedGW, err := load(t, "../configs/gateway-config.yaml")
	require.NoError(t, err)
	loopGW, err := load(t, "../configs/gateway-config.loopback.yaml")
	require.NoError(t, err)
	assert.Equal(t, asMaps(t, seedGW.Processors), asMaps(t, loopGW.Processors))
	assert.Equal(t, asMaps(t, seedGW.Connectors), asMaps(t, loopGW.Connectors))
	assert.Equal(t, seedGW.Service.Pipelines, loopGW.Service.Pipelines)

	seedAgent, err := load(t, "../configs/agent-config.yaml")
	require.NoError(t, err)
	loopAgent, err := load(t, "../configs/agent-config.loopback-dns.yaml")
	require.NoError(t, err)
	assert.Equal(t, asMaps(t, seedAgent.Processors), asMaps(t, loopAgent.Processors))
	assert.Equal(t, seedAgent.Service.Pipelines, loopAgent.Service.Pipelines)
	lbID := component.MustNewID("loadbalancing")
	seedLB := *seedAgent.Exporters[lbID].(*lbexporter.Config)
	loopLB := *loopAgent.Exporters[lbID].(*lbexporter.Config)
	assert.Equal(t, "gateways.test", loopLB.Resolver.DNS.Hostname)
	assert.Equal(t, "127.0.0.1:1053", loopLB.Resolver.DNS.Nameserver)
	dnsSeed, dnsLoop := *seedLB.Resolver.DNS, *loopLB.Resolver.DNS
	dnsLoop.Hostname, dnsLoop.Nameserver = dnsSeed.Hostname, dnsSeed.Nameserver
	assert.Equal(t, dnsSeed, dnsLoop, "only hostname and nameserver differ")
}

// TestHandoffVariants checks the gateway configs with a handoff block: they
// are their handoff-less files plus that block only, the gateway names itself
// as the agents' ring does, and its resolver is the agents' block, identical.
func TestHandoffVariants(t *testing.T) {
	t.Setenv("POD_IP", "10.0.0.7")
	t.Setenv("GATEWAY_HOST", "127.0.0.9")
	t.Setenv("BACKEND_ENDPOINT", "127.0.0.1:14317")
	t.Setenv("GATEWAY_HOSTNAME", "gateways.test")
	t.Setenv("DNS_NAMESERVER", "127.0.0.1:1053")
	tsID := component.MustNewID("tail_sampling")
	lbID := component.MustNewID("loadbalancing")
	tests := []struct {
		name, file, base, agent string
		endpoint, listen        string
	}{
		{"kubernetes", "gateway-config-handoff.yaml", "gateway-config.yaml", "agent-config.yaml", "10.0.0.7:4317", "10.0.0.7:4319"},
		{"loopback", "gateway-config.loopback-handoff.yaml", "gateway-config.loopback.yaml", "agent-config.loopback-dns.yaml", "127.0.0.9:4317", "127.0.0.9:4319"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(t, "../configs/"+tt.file)
			require.NoError(t, err)
			ts := cfg.Processors[tsID].(*tailsampler.Config)
			require.True(t, ts.Handoff.HasValue(), "handoff block is set")
			h := ts.Handoff.Get()
			assert.Equal(t, tt.endpoint, h.Endpoint)
			assert.Equal(t, tt.listen, h.Listen.NetAddr.Endpoint)
			// Mutual TLS: the listener requires client certificates of the
			// CA peers verify it with, and the same certificate both ways.
			require.True(t, h.Listen.TLS.HasValue(), "handoff::listen::tls")
			ltls := h.Listen.TLS.Get()
			assert.NotEmpty(t, ltls.ClientCAFile)
			assert.Equal(t, ltls.ClientCAFile, h.Client.TLS.CAFile)
			assert.Equal(t, ltls.CertFile, h.Client.TLS.CertFile)
			assert.Equal(t, ltls.KeyFile, h.Client.TLS.KeyFile)
			assert.Equal(t, "gateway-collector-handoff.observability.svc", h.Client.TLS.ServerName)

			agent, err := load(t, "../configs/"+tt.agent)
			require.NoError(t, err)
			lb := agent.Exporters[lbID].(*lbexporter.Config)
			assert.Equal(t, asMap(t, lb.Resolver), asMap(t, h.Resolver), "the gateways' resolver is the agents', identical")
			assert.EqualValues(t, 4317, lb.Resolver.DNS.Port)
			assert.Equal(t, h.Endpoint[strings.LastIndexByte(h.Endpoint, ':'):], ":4317", "ring endpoints carry the agents' port")

			// Late spans of traces no policy matched are evaluated on their
			// own: the handoff variants opt in.
			assert.True(t, ts.ReevaluateLateSpans, "reevaluate_late_spans")

			// Without its handoff block (and that opt-in) the file is its
			// base, key for key.
			base, err := load(t, "../configs/"+tt.base)
			require.NoError(t, err)
			setZero(&ts.Handoff) // the zero Optional is None
			ts.ReevaluateLateSpans = false
			assert.Equal(t, asMaps(t, base.Processors), asMaps(t, cfg.Processors))
			assert.Equal(t, asMaps(t, base.Exporters), asMaps(t, cfg.Exporters))
			assert.Equal(t, asMaps(t, base.Connectors), asMaps(t, cfg.Connectors))
			assert.Equal(t, base.Service.Pipelines, cfg.Service.Pipelines)
		})
	}
}

// setZero clears *p; generic because the handoff config type is internal to
// the tailsampler module and cannot be named here.
func setZero[T any](p *T) {
	var zero T
	*p = zero
}

func asMap(t *testing.T, c any) map[string]any {
	t.Helper()
	conf := confmap.New()
	require.NoError(t, conf.Marshal(c))
	return conf.ToStringMap()
}

// asMaps renders component configs as the key/value maps they were decoded
// from (configs hold function values, which reflect.DeepEqual never equates).
func asMaps(t *testing.T, cfgs map[component.ID]component.Config) map[string]any {
	t.Helper()
	out := make(map[string]any, len(cfgs))
	for id, c := range cfgs {
		conf := confmap.New()
		require.NoError(t, conf.Marshal(c), id.String())
		out[id.String()] = conf.ToStringMap()
	}
	return out
}

// TestConfigMistakesAreRejected mutates the seed configs the way people get
// them wrong; each must fail to load, with the key named.
func TestConfigMistakesAreRejected(t *testing.T) {
	tests := []struct {
		name, file, old, new, wantErr string
	}{
		{"misspelt tail_sampling key", "gateway-config.yaml", "decision_wait:", "decision_wiat:", "decision_wiat"},
		{"unknown policy type", "gateway-config.yaml", "type: latency", "type: latancy", "latancy"},
		{"spanmetrics used as a processor", "gateway-config.yaml", "processors: [memory_limiter]\n", "processors: [memory_limiter, spanmetrics]\n", "spanmetrics"},
		{"bad dns port", "agent-config.yaml", "port: 4317", "port: 70000", "port"},
		{"misspelt resolver key", "agent-config.yaml", "hostname:", "hostnme:", "hostnme"},
		{"two resolvers", "agent-config.yaml", "    resolver:\n", "    resolver:\n      static: {hostnames: [a:4317]}\n", "resolver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "configs", tt.file))
			require.NoError(t, err)
			mutated := strings.Replace(string(raw), tt.old, tt.new, 1)
			require.NotEqual(t, string(raw), mutated, "mutation did not apply")
			path := filepath.Join(t.TempDir(), tt.file)
			require.NoError(t, os.WriteFile(path, []byte(mutated), 0o600))
			_, err = load(t, path)
			require.Error(t, err)
			t.Log(err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
