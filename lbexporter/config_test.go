package lbexporter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/tailgate-otel/tailgate/resolver"
)

func loadSection(t *testing.T, file, key string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	sub, err := cm.Sub(key)
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

// The seed article's agent config, verbatim: `loadbalancing:` with an
// integer DNS port, which upstream refuses.
func TestReferenceAgentConfigLoadsAndValidates(t *testing.T) {
	cfg := loadSection(t, "reference-agent.yaml", "exporters::loadbalancing")
	require.NoError(t, validateAll(cfg))
	assert.Equal(t, RoutingTraceID, cfg.RoutingKey)
	assert.True(t, cfg.Protocol.OTLP.ClientConfig.TLS.Insecure)
	require.NotNil(t, cfg.Resolver.DNS)
	assert.Equal(t, "gateway-collector-headless.observability.svc.cluster.local", cfg.Resolver.DNS.Hostname)
	assert.EqualValues(t, 4317, cfg.Resolver.DNS.Port)
	assert.Equal(t, 5*time.Second, cfg.Resolver.DNS.Interval)
	assert.Equal(t, time.Second, cfg.Resolver.DNS.Timeout)
	// the factory knows the deprecated name the seed uses
	f := NewFactory()
	assert.Equal(t, "load_balancing", f.Type().String())
	// and builds a traces exporter from it
	set := exportertest.NewNopSettings(f.Type())
	exp, err := f.CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Shutdown(context.Background()))
}

func validateAll(cfg *Config) error { return confmap.Validate(cfg) }

func TestConfigEveryKey(t *testing.T) {
	cfg := loadSection(t, "config.yaml", "load_balancing/full")
	require.NoError(t, validateAll(cfg))
	assert.Equal(t, RoutingAttributes, cfg.RoutingKey)
	assert.Equal(t, []string{"service.name", "span.kind", "http.route"}, cfg.RoutingAttributes)
	assert.Equal(t, 3*time.Second, cfg.TimeoutSettings.Timeout)
	assert.True(t, cfg.BackOffConfig.Enabled)
	assert.Equal(t, 100*time.Millisecond, cfg.BackOffConfig.InitialInterval)
	require.True(t, cfg.QueueSettings.HasValue())
	assert.EqualValues(t, 5000, cfg.QueueSettings.Get().QueueSize)
	assert.Equal(t, FailoverConfig{Enabled: true, MaxConsecutiveFailures: 5, ProbeInterval: 2 * time.Second}, cfg.Failover)
	assert.Equal(t, 2*time.Second, cfg.Protocol.OTLP.TimeoutConfig.Timeout)
	assert.False(t, cfg.Protocol.OTLP.RetryConfig.Enabled)
	assert.Equal(t, []string{"gw-1", "gw-2:5317", "[::1]:4317"}, cfg.Resolver.Static.Hostnames)
	// per-endpoint copy: endpoint overwritten, one attempt at a time (the
	// load balancer buffers and retries), rest kept
	ec := endpointConfig(cfg, "10.0.0.1:4317")
	assert.Equal(t, "10.0.0.1:4317", ec.ClientConfig.Endpoint)
	assert.False(t, ec.QueueConfig.HasValue())
	assert.False(t, ec.RetryConfig.Enabled)
	assert.True(t, ec.ClientConfig.TLS.Insecure)
	assert.Equal(t, placeholderEndpoint, cfg.Protocol.OTLP.ClientConfig.Endpoint, "template untouched")

	dns := loadSection(t, "config.yaml", "load_balancing/dns_string_port")
	require.NoError(t, validateAll(dns))
	assert.EqualValues(t, 4317, dns.Resolver.DNS.Port)

	k8s := loadSection(t, "config.yaml", "load_balancing/k8s")
	require.NoError(t, validateAll(k8s))
	assert.Equal(t, "gateways.observability", k8s.Resolver.K8s.Service)
	assert.Equal(t, []int32{4317, 4318}, k8s.Resolver.K8s.Ports)
	assert.True(t, k8s.Resolver.K8s.ReturnHostnames)
}

func TestDefaults(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Empty(t, cfg.RoutingKey)
	assert.False(t, cfg.QueueSettings.HasValue(), "queue off by default")
	assert.False(t, cfg.BackOffConfig.Enabled)
	assert.Zero(t, cfg.TimeoutSettings.Timeout)
	assert.False(t, cfg.Failover.Enabled)
	assert.True(t, cfg.Protocol.OTLP.RetryConfig.Enabled, "per-endpoint retry as upstream's otlp default")
	q := queueSettingsOf(cfg)
	assert.Equal(t, queueSettings{enabled: true, sizer: sizeRequests, limit: 1000, consumers: 10}, q,
		"per-endpoint buffers on, with upstream's sending_queue defaults")
	assert.False(t, cfg.Protocol.OTLP.QueueConfig.Get().Batch.HasValue(), "no batching per endpoint")
	for sig, want := range map[string]string{"traces": RoutingTraceID, "metrics": RoutingService, "logs": RoutingService} {
		got, err := cfg.routingKeyFor(sig)
		require.NoError(t, err)
		assert.Equal(t, want, got, sig)
	}
	// resolver is required
	require.ErrorContains(t, validateAll(cfg), "resolver")
}

func TestConfigInvalid(t *testing.T) {
	static := func(c *Config) { c.Resolver.Static = &resolver.StaticConfig{Hostnames: []string{"a"}} }
	tests := []struct {
		name string
		mut  func(*Config)
		want []string
	}{
		{"unknown routing key", func(c *Config) { static(c); c.RoutingKey = "spanID" }, []string{`routing_key: unknown routing key "spanID"`}},
		{"attributes without list", func(c *Config) { static(c); c.RoutingKey = RoutingAttributes }, []string{"routing_attributes: required when routing_key is \"attributes\""}},
		{"list without attributes", func(c *Config) { static(c); c.RoutingKey = RoutingService; c.RoutingAttributes = []string{"a"} }, []string{"routing_attributes: only allowed when routing_key is \"attributes\""}},
		{"empty attribute name", func(c *Config) { static(c); c.RoutingKey = RoutingAttributes; c.RoutingAttributes = []string{"a", ""} }, []string{"routing_attributes::1: must not be empty"}},
		{"failover bad", func(c *Config) {
			static(c)
			c.Failover = FailoverConfig{Enabled: true}
		}, []string{"failover::max_consecutive_failures: must be positive", "failover::probe_interval: must be positive"}},
		{"negative timeout", func(c *Config) { static(c); c.TimeoutSettings.Timeout = -time.Second }, []string{"timeout: must not be negative"}},
		{"no resolver", func(*Config) {}, []string{"resolver", "none is"}},
		{"two resolvers", func(c *Config) {
			static(c)
			c.Resolver.DNS = &resolver.DNSConfig{Hostname: "x"}
		}, []string{"resolver", "several are"}},
		{"several problems at once", func(c *Config) {
			c.RoutingKey = "nope"
			c.Failover.Enabled = true
			c.Failover.ProbeInterval = time.Second
			c.Failover.MaxConsecutiveFailures = 0
		},
			[]string{"routing_key", "failover::max_consecutive_failures", "resolver"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.mut(cfg)
			err := validateAll(cfg)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestRoutingKeyNotSupportedBySignal(t *testing.T) {
	f := NewFactory()
	tests := []struct {
		key    string
		signal pipeline.Signal
	}{
		{RoutingMetric, pipeline.SignalTraces},
		{RoutingStreamID, pipeline.SignalLogs},
		{RoutingTraceID, pipeline.SignalMetrics},
		{RoutingResource, pipeline.SignalTraces},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.signal.String(), func(t *testing.T) {
			cfg := testConfig(func(c *Config) { c.RoutingKey = tt.key })
			set := exportertest.NewNopSettings(f.Type())
			var err error
			switch tt.signal {
			case pipeline.SignalTraces:
				_, err = f.CreateTraces(context.Background(), set, cfg)
			case pipeline.SignalLogs:
				_, err = f.CreateLogs(context.Background(), set, cfg)
			default:
				_, err = f.CreateMetrics(context.Background(), set, cfg)
			}
			require.ErrorIs(t, err, ErrUnsupportedRoutingKey)
			assert.ErrorContains(t, err, "routing_key")
		})
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	cm := confmap.NewFromStringMap(map[string]any{"resolver": map[string]any{"static": map[string]any{"hostnames": []any{"a"}}}, "routing_keys": "traceID"})
	cfg := createDefaultConfig().(*Config)
	require.ErrorContains(t, cm.Unmarshal(cfg), "routing_keys")
}

func TestFactoryLifecycleAllSignals(t *testing.T) {
	f := NewFactory()
	cfg := testConfig(func(c *Config) { c.Resolver.Static = &resolver.StaticConfig{Hostnames: []string{"127.0.0.1:1"}} })
	set := exportertest.NewNopSettings(f.Type())
	host := componenttest.NewNopHost()
	ctx := context.Background()
	te, err := f.CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	le, err := f.CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	me, err := f.CreateMetrics(ctx, set, cfg)
	require.NoError(t, err)
	for _, c := range []component.Component{te, le, me} {
		require.NoError(t, c.Start(ctx, host))
		require.NoError(t, c.Shutdown(ctx))
		require.NoError(t, c.Shutdown(ctx))
	}
	assert.True(t, te.Capabilities().MutatesData)
}
