package compat

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	upstreamlb "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/internal/upstreamring"
)

// traceSink is an OTLP/gRPC endpoint on loopback that records the trace
// IDs it receives.
type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	addr string
	srv  *grpc.Server

	mu  sync.Mutex
	ids map[pcommon.TraceID]int
}

func startTraceSink(t *testing.T) *traceSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &traceSink{addr: l.Addr().String(), srv: grpc.NewServer(), ids: map[pcommon.TraceID]int{}}
	ptraceotlp.RegisterGRPCServer(s.srv, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(l)
	}()
	t.Cleanup(func() {
		s.srv.Stop()
		<-done
	})
	return s
}

func (s *traceSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.Traces().ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				s.ids[sp.TraceID()]++
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func (s *traceSink) received() map[pcommon.TraceID]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[pcommon.TraceID]int, len(s.ids))
	for id, n := range s.ids {
		out[id] = n
	}
	return out
}

// TestUpstreamRingMatchesContrib runs contrib's load-balancing exporter
// (v0.159.0) over real OTLP/gRPC endpoints on loopback and checks that
// internal/upstreamring, which the hash ring benchmarks and the
// migration test use in its place, sends every trace where contrib's
// exporter does.
func TestUpstreamRingMatchesContrib(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(string(rune('0'+n))+" endpoints", func(t *testing.T) {
			sinks := make([]*traceSink, n)
			endpoints := make([]string, n)
			for i := range sinks {
				sinks[i] = startTraceSink(t)
				endpoints[i] = sinks[i].addr
			}
			hostnames := make([]any, n)
			for i, e := range endpoints {
				hostnames[i] = e
			}
			fac := upstreamlb.NewFactory()
			cfg := fac.CreateDefaultConfig()
			require.NoError(t, confmap.NewFromStringMap(map[string]any{
				"routing_key": "traceID",
				"protocol":    map[string]any{"otlp": map[string]any{"tls": map[string]any{"insecure": true}}},
				"resolver":    map[string]any{"static": map[string]any{"hostnames": hostnames}},
			}).Unmarshal(cfg))
			exp, err := fac.CreateTraces(context.Background(), exportertest.NewNopSettings(fac.Type()), cfg)
			require.NoError(t, err)
			require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

			spec := tracegen.Spec{Traces: 3000, SpansPerTrace: 2, TracesPerBatch: 100, Seed: 77 + uint64(n)}
			for _, td := range tracegen.Batches(spec) {
				require.NoError(t, exp.ConsumeTraces(context.Background(), td))
			}
			require.Eventually(t, func() bool {
				got := 0
				for _, s := range sinks {
					for _, c := range s.received() {
						got += c
					}
				}
				return got >= spec.Traces*spec.SpansPerTrace
			}, 30*time.Second, 10*time.Millisecond)
			require.NoError(t, exp.Shutdown(context.Background()))

			ring := upstreamring.New(endpoints)
			agree := 0
			for i, s := range sinks {
				for id, c := range s.received() {
					assert.Equal(t, spec.SpansPerTrace, c, "trace %v: every span at one endpoint", id)
					if assert.Equal(t, endpoints[i], ring.Get(id[:]), "trace %v", id) {
						agree++
					}
				}
			}
			assert.Equal(t, spec.Traces, agree, "every trace where contrib's exporter sent it")
		})
	}
}
