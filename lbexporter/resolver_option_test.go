package lbexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/manual"
)

func TestWithResolverConfig(t *testing.T) {
	src := manual.NewSource("127.0.0.1:4317")
	tests := []struct {
		name    string
		opts    []Option
		yaml    map[string]any
		wantErr string
	}{
		{"from code, no block", []Option{WithResolver(src.Resolver)}, map[string]any{}, ""},
		{"from code and a block", []Option{WithResolver(src.Resolver)},
			map[string]any{"resolver": map[string]any{"static": map[string]any{"hostnames": []any{"gw"}}}},
			"resolver: " + "invalid resolver config: static, dns and k8s must not be set"},
		{"nil factory keeps YAML", []Option{WithResolver(nil), nil},
			map[string]any{"resolver": map[string]any{"static": map[string]any{"hostnames": []any{"gw"}}}}, ""},
		{"no option, no block", nil, map[string]any{}, "exactly one of static, dns or k8s must be set, none is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewFactory(tt.opts...).CreateDefaultConfig().(*Config)
			require.NoError(t, confmap.NewFromStringMap(tt.yaml).Unmarshal(cfg))
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

// One manual.Source moves the ring of a real exporter over real gRPC:
// every span reaches the owner of its trace in the set in force when it
// was sent.
func TestWithResolverFollowsSource(t *testing.T) {
	a, b := newGRPCSink(t, "127.0.0.1:0"), newGRPCSink(t, "127.0.0.1:0")
	src := manual.NewSource(a.addr)
	f := NewFactory(WithResolver(src.Resolver))
	cfg := f.CreateDefaultConfig().(*Config)
	fastOTLP(cfg)
	require.NoError(t, confmap.Validate(cfg))
	exp := startTracesExporter(t, f, cfg)

	send := func(seed uint64) map[pcommon.SpanID]pcommon.TraceID {
		want := map[pcommon.SpanID]pcommon.TraceID{}
		for _, td := range tracegen.Batches(tracegen.Spec{Traces: 100, SpansPerTrace: 2, Seed: seed}) {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						want[sp.SpanID()] = sp.TraceID()
					}
				}
			}
			require.NoError(t, exp.ConsumeTraces(context.Background(), td))
		}
		return want
	}
	first := send(1)
	require.Eventually(t, func() bool { return a.got.Load() == int64(len(first)) }, 20*time.Second, 10*time.Millisecond)

	src.Set(a.addr, b.addr)
	second := send(2)
	require.Eventually(t, func() bool {
		return a.got.Load()+b.got.Load() == int64(len(first)+len(second))
	}, 20*time.Second, 10*time.Millisecond)
	ring := hashring.New([]string{a.addr, b.addr})
	for addr, s := range map[string]*grpcSink{a.addr: a, b.addr: b} {
		for sid := range s.spanIDs() {
			if tid, ok := second[sid]; ok {
				assert.Equal(t, addr, ring.Get(tid[:]))
			}
		}
	}
	assert.Positive(t, b.got.Load(), "the second gateway joined the ring")
}
