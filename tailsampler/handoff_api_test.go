package tailsampler

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"

	"github.com/tailgate-otel/tailgate/hashring"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/manual"
)

func TestWithHandoffResolverConfig(t *testing.T) {
	src := manual.NewSource("127.0.0.1:4317")
	static := map[string]any{"static": map[string]any{"hostnames": []any{"gw"}}}
	tests := []struct {
		name    string
		opts    []Option
		handoff map[string]any
		wantErr string
	}{
		{"from code, no resolver", []Option{WithHandoffResolver(src.Resolver)},
			map[string]any{"endpoint": "10.0.0.1:4317"}, ""},
		{"from code and a resolver", []Option{WithHandoffResolver(src.Resolver)},
			map[string]any{"endpoint": "10.0.0.1:4317", "resolver": static},
			"handoff::resolver: invalid resolver config: static, dns and k8s must not be set"},
		{"nil factory keeps YAML", []Option{WithHandoffResolver(nil), WithHandoffPeerAddress(nil)},
			map[string]any{"endpoint": "10.0.0.1:4317", "resolver": static}, ""},
		{"no option, no resolver", nil,
			map[string]any{"endpoint": "10.0.0.1:4317"}, "handoff::resolver: invalid resolver config: exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewFactory(tt.opts...).CreateDefaultConfig().(*Config)
			require.NoError(t, confmap.NewFromStringMap(map[string]any{
				"policies": []any{map[string]any{"name": "all", "type": "always_sample"}},
				"handoff":  tt.handoff,
			}).Unmarshal(cfg))
			require.True(t, cfg.Handoff.HasValue())
			err := confmap.Validate(cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, resolver.ErrInvalidConfig)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// In code, GetOrInsertDefault turns the block on from the factory's
// default, which knows WithHandoffResolver; a block built from
// NewDefaultHandoffConfig does not, and says what is missing.
func TestHandoffConfigInCode(t *testing.T) {
	src := manual.NewSource()
	cfg := NewFactory(WithHandoffResolver(src.Resolver)).CreateDefaultConfig().(*Config)
	cfg.Policies = []PolicyCfg{{Name: "all", Type: "always_sample"}}
	assert.False(t, cfg.Handoff.HasValue(), "off until asked for")
	h := cfg.Handoff.GetOrInsertDefault()
	h.Endpoint = "10.0.0.1:4317"
	assert.True(t, h.Resolver.IsFromCode())
	require.NoError(t, confmap.Validate(cfg))

	plain := NewDefaultHandoffConfig()
	plain.Endpoint = "10.0.0.1:4317"
	plain.Client = HandoffClientConfig{ClientConfig: plain.Client.ClientConfig, Timeout: DefaultHandoffTimeout}
	assert.Equal(t, DefaultHandoffHopLimit, plain.HopLimit)
	*h = plain
	require.ErrorContains(t, confmap.Validate(cfg), "handoff::resolver: invalid resolver config: exactly one")
}

// Two gateways of one host, each handoff listener on a port of its own:
// WithHandoffPeerAddress maps ring endpoints to them, and the trace the
// new gateway owns reaches it through the handoff.
func TestWithHandoffPeerAddressReachesPeer(t *testing.T) {
	const gw1, gw2 = "127.0.9.21:4317", "127.0.9.22:4317"
	listen := map[string]string{gw1: freeLoopback(t), gw2: freeLoopback(t)}
	src := manual.NewSource(gw1)
	sinks := map[string]*consumertest.TracesSink{}
	procs := map[string]processor.Traces{}
	for _, ep := range []string{gw1, gw2} {
		f := NewFactory(WithHandoffResolver(src.Resolver),
			WithHandoffPeerAddress(func(ringEndpoint string) string { return listen[ringEndpoint] }))
		cfg := f.CreateDefaultConfig().(*Config)
		cfg.DecisionWait = time.Second
		cfg.Policies = []PolicyCfg{{Name: "all", Type: "always_sample"}}
		h := cfg.Handoff.GetOrInsertDefault()
		h.Endpoint = ep
		h.Listen.NetAddr.Endpoint = listen[ep]
		require.NoError(t, confmap.Validate(cfg))
		sinks[ep] = new(consumertest.TracesSink)
		p, err := f.CreateTraces(context.Background(), newNopSettings(), cfg, sinks[ep])
		require.NoError(t, err)
		procs[ep] = p
	}
	ring := hashring.New([]string{gw1, gw2})
	var id pcommon.TraceID
	for i := byte(1); ; i++ {
		id = pcommon.TraceID{15: i}
		if ring.Get(id[:]) == gw2 {
			break
		}
	}
	require.NoError(t, procs[gw1].Start(context.Background(), componenttest.NewNopHost()))
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(id)
	sp.SetSpanID(pcommon.SpanID{1})
	require.NoError(t, procs[gw1].ConsumeTraces(context.Background(), td))
	require.NoError(t, procs[gw2].Start(context.Background(), componenttest.NewNopHost()))
	src.Set(gw1, gw2)
	require.Eventually(t, func() bool { return sinks[gw2].SpanCount() == 1 }, 20*time.Second, 20*time.Millisecond)
	assert.Zero(t, sinks[gw1].SpanCount())
	for _, ep := range []string{gw2, gw1} {
		require.NoError(t, procs[ep].Shutdown(context.Background()))
	}
}

func freeLoopback(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}
