package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	// Collectors' OTLP exporters compress with gzip by default.
	_ "google.golang.org/grpc/encoding/gzip"
)

// spanKey identifies a span across deliveries.
type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

// Sink is an OTLP/gRPC backend (traces and metrics) that remembers which
// spans of which traces arrived and adds up span-metrics call counts.
type Sink struct {
	srv *grpc.Server
	lis net.Listener
	wg  sync.WaitGroup

	mu        sync.Mutex
	seen      map[spanKey]struct{}
	perTrace  map[pcommon.TraceID]int
	exports   map[pcommon.TraceID]int // export requests that carried spans of the trace
	delivered int                     // spans received, duplicates included
	calls     float64
	metricDPs map[string]int // data points received per metric name
	last      time.Time
}

// StartSink listens on addr (host:port; port 0 picks one) and serves OTLP
// traces and metrics until Stop.
func StartSink(addr string) (*Sink, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sink: listen on %s: %w", addr, err)
	}
	s := &Sink{
		srv:       grpc.NewServer(),
		lis:       lis,
		seen:      make(map[spanKey]struct{}),
		perTrace:  make(map[pcommon.TraceID]int),
		exports:   make(map[pcommon.TraceID]int),
		metricDPs: make(map[string]int),
	}
	ptraceotlp.RegisterGRPCServer(s.srv, &traceServer{s: s})
	pmetricotlp.RegisterGRPCServer(s.srv, &metricServer{s: s})
	s.wg.Go(func() { _ = s.srv.Serve(lis) })
	return s, nil
}

// Addr is the address the sink listens on.
func (s *Sink) Addr() string { return s.lis.Addr().String() }

// Stop closes the listener and every connection. It is idempotent.
func (s *Sink) Stop() {
	s.srv.Stop()
	s.wg.Wait()
}

func (s *Sink) addTraces(td ptrace.Traces) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = time.Now()
	inRequest := map[pcommon.TraceID]struct{}{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				if _, counted := inRequest[sp.TraceID()]; !counted {
					inRequest[sp.TraceID()] = struct{}{}
					s.exports[sp.TraceID()]++
				}
				s.delivered++
				k := spanKey{sp.TraceID(), sp.SpanID()}
				if _, dup := s.seen[k]; dup {
					continue
				}
				s.seen[k] = struct{}{}
				s.perTrace[k.trace]++
			}
		}
	}
}

func (s *Sink) addMetrics(md pmetric.Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = time.Now()
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				switch m.Type() {
				case pmetric.MetricTypeSum:
					s.metricDPs[m.Name()] += m.Sum().DataPoints().Len()
					if strings.HasSuffix(m.Name(), ".calls") && m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta {
						for _, dp := range m.Sum().DataPoints().All() {
							s.calls += numberValue(dp)
						}
					}
				case pmetric.MetricTypeHistogram:
					s.metricDPs[m.Name()] += m.Histogram().DataPoints().Len()
				case pmetric.MetricTypeExponentialHistogram:
					s.metricDPs[m.Name()] += m.ExponentialHistogram().DataPoints().Len()
				case pmetric.MetricTypeGauge:
					s.metricDPs[m.Name()] += m.Gauge().DataPoints().Len()
				}
			}
		}
	}
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// SpansOf is the number of distinct spans of trace id received so far.
func (s *Sink) SpansOf(id pcommon.TraceID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perTrace[id]
}

// ExportsOf is the number of export requests that carried spans of trace
// id. A gateway exports a sampled trace's spans together (one decision, one
// batch), so more than one export means the trace was decided more than
// once: by two gateways, or by one for early and again for late spans.
func (s *Sink) ExportsOf(id pcommon.TraceID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exports[id]
}

// Traces is the number of distinct traces with at least one span received.
func (s *Sink) Traces() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.perTrace)
}

// Spans returns the distinct spans received and all deliveries (duplicates
// included).
func (s *Sink) Spans() (distinct, delivered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen), s.delivered
}

// DeltaCalls is the sum of every delta data point of metrics named
// "*.calls": with span metrics in delta temporality, the number of spans the
// span-metrics connectors counted.
func (s *Sink) DeltaCalls() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// MetricDataPoints is the number of data points received per metric name.
func (s *Sink) MetricDataPoints() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.metricDPs))
	for k, v := range s.metricDPs {
		out[k] = v
	}
	return out
}

// LastReceive is when data last arrived (zero before any).
func (s *Sink) LastReceive() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// WaitQuiet returns once nothing has arrived for quiet, or ctx ends.
func (s *Sink) WaitQuiet(ctx context.Context, quiet time.Duration) error {
	t := time.NewTicker(quiet / 10)
	defer t.Stop()
	start := time.Now()
	for {
		last := s.LastReceive()
		if last.IsZero() {
			last = start
		}
		if time.Since(last) >= quiet {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	s *Sink
}

func (t *traceServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	t.s.addTraces(req.Traces())
	return ptraceotlp.NewExportResponse(), nil
}

type metricServer struct {
	pmetricotlp.UnimplementedGRPCServer
	s *Sink
}

func (m *metricServer) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	m.s.addMetrics(req.Metrics())
	return pmetricotlp.NewExportResponse(), nil
}

// ErrSenderClosed is returned by Send after Close.
var ErrSenderClosed = errors.New("wire: sender closed")
