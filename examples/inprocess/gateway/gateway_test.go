package gateway

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestNewRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want error
	}{
		{"no backend", nil, ErrNoBackend},
		{"negative percentage", []Option{WithBackend("127.0.0.1:1", true), WithSamplingPercentage(-1)}, nil},
		{"zero decision wait", []Option{WithBackend("127.0.0.1:1", true), WithDecisionWait(0)}, nil},
		{"zero flush interval", []Option{WithBackend("127.0.0.1:1", true), WithMetricsFlushInterval(0)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(tt.opts...)
			require.Error(t, err)
			assert.Nil(t, g)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	g, err := New(WithBackend("127.0.0.1:1", true), WithListenAddress(freeAddr(t)))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, g.Shutdown(ctx), "shutdown before start")
	require.ErrorIs(t, g.Start(ctx), ErrStarted, "no start after shutdown")

	g, err = New(WithBackend("127.0.0.1:1", true), WithListenAddress(freeAddr(t)))
	require.NoError(t, err)
	require.NoError(t, g.Start(ctx))
	require.ErrorIs(t, g.Start(ctx), ErrStarted)
	require.NoError(t, g.Shutdown(ctx))
	require.NoError(t, g.Shutdown(ctx), "idempotent")
}

func TestStartFailsWhenTheAddressIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	g, err := New(WithBackend("127.0.0.1:1", true), WithListenAddress(l.Addr().String()))
	require.NoError(t, err)
	require.Error(t, g.Start(context.Background()))
	require.NoError(t, g.Shutdown(context.Background()), "a failed start already cleaned up")
}

// TestGatewayOverRealGRPC sends a workload to the gateway over OTLP/gRPC on
// 127.0.0.1 and checks what reaches a real OTLP backend: every error trace,
// whole; no trace that no policy keeps; the probabilistic share near its
// setting; and span metrics that counted every span, sampled or not.
func TestGatewayOverRealGRPC(t *testing.T) {
	sink, err := wire.StartSink("127.0.0.1:0")
	require.NoError(t, err)
	defer sink.Stop()

	tests := []struct {
		name          string
		metricsToSink bool
	}{
		{"metrics exported to the backend", true},
		{"metrics handed to the caller", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tracegen.Spec{Traces: 2000, SpansPerTrace: 5, TracesPerBatch: 100, Layout: tracegen.Interleaved, ErrorEvery: 50, Seed: uint64(100 + i), Start: time.Now()}
			metricsSink := new(consumertest.MetricsSink)
			callsBefore := sink.DeltaCalls()
			opts := []Option{
				WithListenAddress(freeAddr(t)), WithBackend(sink.Addr(), true),
				WithDecisionWait(time.Second), WithMetricsFlushInterval(200 * time.Millisecond),
			}
			if !tt.metricsToSink {
				opts = append(opts, WithMetricsConsumer(metricsSink))
			}
			g, err := New(opts...)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			require.NoError(t, g.Start(ctx))
			defer func() { require.NoError(t, g.Shutdown(context.Background())) }()

			addr := g.Addr()
			snd := wire.NewSender()
			defer snd.Close()
			batches := tracegen.Batches(spec)
			for _, b := range batches {
				require.NoError(t, snd.Send(ctx, addr, b))
			}
			sent := tracegen.SpanCount(batches)

			// Decisions come after decision_wait; wait for the backend to go quiet.
			time.Sleep(time.Second)
			require.NoError(t, sink.WaitQuiet(ctx, 2*time.Second))
			require.NoError(t, g.Shutdown(ctx))

			var errTraces, errComplete, kept, partial int
			for n := range spec.Traces {
				got := sink.SpansOf(tracegen.TraceID(spec.Seed, n))
				if got > 0 && got < spec.SpansPerTrace {
					partial++
				}
				if spec.IsError(n) {
					errTraces++
					if got == spec.SpansPerTrace {
						errComplete++
					}
				} else if got > 0 {
					kept++
				}
			}
			t.Logf("sent %d spans; error traces %d (complete %d); other traces kept %d; partial %d", sent, errTraces, errComplete, kept, partial)
			assert.Equal(t, errTraces, errComplete, "every error trace arrives whole")
			assert.Zero(t, partial, "a single gateway never splits a trace")
			share := float64(kept) / float64(spec.Traces-errTraces)
			assert.InDelta(t, 0.10, share, 0.03, "probabilistic share")

			var calls float64
			if tt.metricsToSink {
				calls = sink.DeltaCalls() - callsBefore
			} else {
				calls = sumCalls(metricsSink)
			}
			t.Logf("span metrics calls %.0f", calls)
			assert.InDelta(t, float64(sent), calls, 0.5, "span metrics count every span, before sampling")
		})
	}
}

// sumCalls adds up the delta data points of the "*.calls" metrics.
func sumCalls(ms *consumertest.MetricsSink) float64 {
	var total float64
	for _, md := range ms.AllMetrics() {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Type() != pmetric.MetricTypeSum || !strings.HasSuffix(m.Name(), ".calls") {
						continue
					}
					for _, dp := range m.Sum().DataPoints().All() {
						total += float64(dp.IntValue()) + dp.DoubleValue()
					}
				}
			}
		}
	}
	return total
}
