package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/lbexporter"
	"github.com/tailgate-otel/tailgate/resolver/manual"
)

func TestWithHandoffIncomplete(t *testing.T) {
	src := manual.NewSource()
	for name, opts := range map[string][]Option{
		"no endpoint": {WithHandoff("", src.Resolver)},
		"no gateways": {WithHandoff("127.0.0.1:4317", nil)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(append(opts, WithBackend("127.0.0.1:1", true))...)
			require.ErrorIs(t, err, ErrHandoffIncomplete)
		})
	}
}

// A gateway joins while agents send: one manual.Source feeds the agent's
// load_balancing ring (lbexporter.WithResolver) and, with the handoff,
// both gateways' view. Every trace's first half of spans reaches gateway
// 1, the second half the owner in the new ring. With the handoff every
// error trace reaches the backend whole; without it, those that changed
// owner lose the half without the error span.
func TestGatewayJoinsWithHandoffFedByManual(t *testing.T) {
	tests := []struct {
		name    string
		handoff bool
	}{
		{"handoff", true},
		{"no handoff", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink, err := wire.StartSink("127.0.0.1:0")
			require.NoError(t, err)
			defer sink.Stop()
			ep1, ep2 := freeAddr(t), freeAddr(t)
			handoffAddr := map[string]string{ep1: freeAddr(t), ep2: freeAddr(t)}
			gatewaySet := manual.NewSource(ep1)
			newGateway := func(ep string) *Gateway {
				opts := []Option{
					WithListenAddress(ep), WithBackend(sink.Addr(), true),
					WithDecisionWait(2 * time.Second), WithSamplingPercentage(0),
					WithMetricsConsumer(consumertest.NewNop()),
				}
				if tt.handoff {
					opts = append(opts, WithHandoff(ep, gatewaySet.Resolver), WithHandoffListen(handoffAddr[ep]),
						WithHandoffPeerAddress(func(ringEndpoint string) string { return handoffAddr[ringEndpoint] }))
				}
				g, err := New(opts...)
				require.NoError(t, err)
				require.NoError(t, g.Start(context.Background()))
				t.Cleanup(func() { require.NoError(t, g.Shutdown(context.Background())) })
				return g
			}
			newGateway(ep1)

			f := lbexporter.NewFactory(lbexporter.WithResolver(gatewaySet.Resolver))
			cfg := f.CreateDefaultConfig().(*lbexporter.Config)
			cfg.RoutingKey = "traceID"
			cfg.Protocol.OTLP.ClientConfig.TLS.Insecure = true
			agent, err := f.CreateTraces(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
			require.NoError(t, err)
			require.NoError(t, agent.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(t, agent.Shutdown(context.Background())) }()

			spec := tracegen.Spec{Traces: 400, SpansPerTrace: 4, TracesPerBatch: 100, Layout: tracegen.Interleaved,
				ErrorEvery: 10, Seed: uint64(300 + i), Start: time.Now()}
			batches := tracegen.Batches(spec)
			send := func(half int) {
				for k, b := range batches {
					if k%spec.SpansPerTrace/2 == half {
						require.NoError(t, agent.ConsumeTraces(context.Background(), b))
					}
				}
			}
			send(0)
			newGateway(ep2)
			gatewaySet.Set(ep1, ep2)
			send(1)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			time.Sleep(2 * time.Second)
			require.NoError(t, sink.WaitQuiet(ctx, 2*time.Second))
			var errTraces, whole int
			for n := range spec.Traces {
				if spec.IsError(n) {
					errTraces++
					if sink.SpansOf(tracegen.TraceID(spec.Seed, n)) == spec.SpansPerTrace {
						whole++
					}
				}
			}
			t.Logf("error traces whole at the backend: %d of %d", whole, errTraces)
			if tt.handoff {
				assert.Equal(t, errTraces, whole)
			} else {
				assert.Less(t, whole, errTraces, "without the handoff, traces that changed owner are split")
			}
		})
	}
}
