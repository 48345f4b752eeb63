package lbexporter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// grpcSink is a real OTLP/gRPC trace server on 127.0.0.1. It records a
// request only when it answers it with success, as a gateway whose answer
// the client reads; hang and refuse make it misbehave.
type grpcSink struct {
	ptraceotlp.UnimplementedGRPCServer
	addr string
	srv  *grpc.Server
	mu   sync.Mutex
	ids  map[pcommon.SpanID]int
	got  atomic.Int64
	// hold, when not nil, makes Export wait until it is closed (then
	// answer normally) or the client gives up (nothing recorded).
	hold chan struct{}
	// refuse, when not nil, is returned by Export (nothing recorded).
	refuse error
	calls  atomic.Int64
	held   atomic.Int64 // requests waiting on hold right now
}

func newGRPCSink(t testing.TB, addr string) *grpcSink {
	t.Helper()
	s := &grpcSink{ids: map[pcommon.SpanID]int{}}
	s.listen(t, addr)
	return s
}

func (s *grpcSink) listen(t testing.TB, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // a restarted sink may wait for its old port
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	s.srv = grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(s.srv, s)
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(s.stop)
}

func (s *grpcSink) stop() { s.srv.Stop() }

// hang makes the sink accept requests and never answer them, until the
// returned function is called.
func (s *grpcSink) hang() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hold := make(chan struct{})
	s.hold = hold
	return func() {
		s.mu.Lock()
		s.hold = nil
		s.mu.Unlock()
		close(hold)
	}
}

// setRefuse makes the sink answer every request with err (nil: accept).
func (s *grpcSink) setRefuse(err error) {
	s.mu.Lock()
	s.refuse = err
	s.mu.Unlock()
}

func (s *grpcSink) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.calls.Add(1)
	s.mu.Lock()
	hold, refuse := s.hold, s.refuse
	s.mu.Unlock()
	if refuse != nil {
		return ptraceotlp.NewExportResponse(), refuse
	}
	if hold != nil {
		s.held.Add(1)
		select {
		case <-hold:
		case <-ctx.Done():
		}
		s.held.Add(-1)
		if err := ctx.Err(); err != nil {
			return ptraceotlp.NewExportResponse(), err // the client gave up: nothing kept
		}
	}
	td := req.Traces()
	s.mu.Lock()
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				s.ids[sp.SpanID()]++
			}
		}
	}
	s.mu.Unlock()
	s.got.Add(int64(td.SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

func (s *grpcSink) spanIDs() map[pcommon.SpanID]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[pcommon.SpanID]int, len(s.ids))
	for k, v := range s.ids {
		out[k] = v
	}
	return out
}

// fastOTLP makes per-endpoint retries quick so tests finish in time.
func fastOTLP(c *Config) {
	c.Protocol.OTLP.ClientConfig.TLS.Insecure = true
	c.Protocol.OTLP.RetryConfig.InitialInterval = 20 * time.Millisecond
	c.Protocol.OTLP.RetryConfig.MaxInterval = 100 * time.Millisecond
	c.Protocol.OTLP.RetryConfig.MaxElapsedTime = 20 * time.Second
	c.Protocol.OTLP.TimeoutConfig.Timeout = 2 * time.Second
}

func startTracesExporter(t testing.TB, f exporter.Factory, cfg *Config) exporter.Traces {
	t.Helper()
	exp, err := f.CreateTraces(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

func TestGRPCEverySpanOnceAtRingOwner(t *testing.T) {
	for _, n := range []int{3, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			sinks := map[string]*grpcSink{}
			var eps []string
			for range n {
				s := newGRPCSink(t, "127.0.0.1:0")
				sinks[s.addr] = s
				eps = append(eps, s.addr)
			}
			// through YAML, static resolver
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			require.NoError(t, confmap.NewFromStringMap(map[string]any{
				"routing_key": "traceID",
				"protocol":    map[string]any{"otlp": map[string]any{"tls": map[string]any{"insecure": true}}},
				"resolver":    map[string]any{"static": map[string]any{"hostnames": toAny(eps)}},
			}).Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			exp := startTracesExporter(t, NewFactory(), cfg)
			spec := tracegen.Spec{Traces: 500, SpansPerTrace: 4}
			want := map[pcommon.SpanID]pcommon.TraceID{}
			for _, td := range tracegen.Batches(spec) {
				for _, rs := range td.ResourceSpans().All() {
					for _, ss := range rs.ScopeSpans().All() {
						for _, sp := range ss.Spans().All() {
							want[sp.SpanID()] = sp.TraceID()
						}
					}
				}
				require.NoError(t, exp.ConsumeTraces(context.Background(), td))
			}
			require.Eventually(t, func() bool {
				n := int64(0)
				for _, s := range sinks {
					n += s.got.Load()
				}
				return n >= int64(len(want))
			}, 20*time.Second, 10*time.Millisecond)
			ring := hashring.New(eps)
			total := 0
			for ep, s := range sinks {
				for sid, c := range s.spanIDs() {
					assert.Equal(t, 1, c)
					tid := want[sid]
					assert.Equal(t, ring.Get(tid[:]), ep)
					total++
				}
			}
			assert.Equal(t, len(want), total)
		})
	}
}

// consumeRetrying is a caller that honours back-pressure: the part of a
// batch refused because its endpoint's buffer is full is sent again.
func consumeRetrying(exp exporter.Traces, td ptrace.Traces) error {
	for {
		err := exp.ConsumeTraces(context.Background(), td)
		var te consumererror.Traces
		if err == nil || consumererror.IsPermanent(err) || !errors.As(err, &te) {
			return err
		}
		td = te.Data()
		time.Sleep(5 * time.Millisecond)
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Sinks join and leave while four producers push (each a batch of 100
// spans every 20 ms): no span is lost, and none is delivered twice except
// to the gateway that died.
func TestGRPCChurnUnderLoadLosesNothing(t *testing.T) {
	var sinks []*grpcSink
	var eps []string
	for range 6 {
		s := newGRPCSink(t, "127.0.0.1:0")
		sinks = append(sinks, s)
		eps = append(eps, s.addr)
	}
	env := newTestEnv(eps[:3]...)
	cfg := testConfig(fastOTLP, func(c *Config) { c.Protocol.OTLP.TimeoutConfig.Timeout = 5 * time.Second })
	exp := startTracesExporter(t, newFactory(env.res.newRes), cfg)
	var sent atomic.Int64
	var sentMu sync.Mutex
	var sentIDs []pcommon.SpanID
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				td := tracegen.Batches(tracegen.Spec{Traces: 25, SpansPerTrace: 4, TracesPerBatch: 25, Seed: uint64(w)<<40 | uint64(i)<<8})[0]
				n := td.SpanCount()
				ids := make([]pcommon.SpanID, 0, n)
				for _, rs := range td.ResourceSpans().All() {
					for _, ss := range rs.ScopeSpans().All() {
						for _, sp := range ss.Spans().All() {
							ids = append(ids, sp.SpanID())
						}
					}
				}
				if assert.NoError(t, consumeRetrying(exp, td)) {
					sent.Add(int64(n))
					sentMu.Lock()
					sentIDs = append(sentIDs, ids...)
					sentMu.Unlock()
				}
			}
		}()
	}
	for i, set := range [][]string{eps[:4], eps[1:5], eps[3:6], eps[1:], eps[2:3], eps[1:4]} {
		time.Sleep(60 * time.Millisecond)
		if i == 1 {
			// gateway 0 dies before the resolver notices: its in-flight
			// sends retry until it is removed, then are re-routed.
			sinks[0].stop()
			time.Sleep(30 * time.Millisecond)
		}
		env.res.set(set)
	}
	time.Sleep(60 * time.Millisecond)
	close(stop)
	wg.Wait()
	// Every span arrives; a span arrives twice only when the killed gateway
	// took it but died before answering (at-least-once).
	var seen, dead map[pcommon.SpanID]int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		seen = map[pcommon.SpanID]int{}
		for _, s := range sinks[1:] {
			for id, c := range s.spanIDs() {
				seen[id] += c
			}
		}
		dead = sinks[0].spanIDs()
		union := len(seen)
		for id := range dead {
			if seen[id] == 0 {
				union++
			}
		}
		if union >= len(sentIDs) || time.Now().After(deadline) {
			break
		}
	}
	lost, dups := 0, 0
	for _, id := range sentIDs {
		switch {
		case seen[id]+dead[id] == 0:
			lost++
		case seen[id] > 1:
			dups++
		}
	}
	assert.Zero(t, lost, "spans lost")
	assert.Zero(t, dups, "spans duplicated among live gateways")
	assert.EqualValues(t, len(sentIDs), sent.Load())
	assert.Positive(t, sent.Load())
	t.Logf("sent %d spans, %d reached the gateway that died", sent.Load(), len(dead))
}

// A gateway goes away and comes back on the same address: the per-endpoint
// retry holds its data until then, and it arrives.
func TestGRPCSinkRestartDataArrives(t *testing.T) {
	sinks, env, exp := fleetOf(t, 2)
	a, b := sinks[0], sinks[1]
	require.NoError(t, exp.ConsumeTraces(context.Background(), tracegen.Batches(tracegen.Spec{Traces: 10, SpansPerTrace: 2, Seed: 1})[0]))
	addr := b.addr
	require.Eventually(t, func() bool { return a.got.Load()+b.got.Load() == 20 }, 10*time.Second, 5*time.Millisecond)
	settled(t, env)
	b.stop()
	require.NoError(t, exp.ConsumeTraces(context.Background(), tracegen.Batches(tracegen.Spec{Traces: 100, SpansPerTrace: 2, Seed: 2})[0]))
	time.Sleep(300 * time.Millisecond)
	b2 := newGRPCSink(t, addr)
	if !assert.Eventually(t, func() bool { return a.got.Load()+b.got.Load()+b2.got.Load() >= 220 }, 25*time.Second, 10*time.Millisecond) {
		t.Fatalf("data for the restarted sink never arrived: %d + %d + %d of 220", a.got.Load(), b.got.Load(), b2.got.Load())
	}
	settled(t, env)
	assert.EqualValues(t, 220, a.got.Load()+b.got.Load()+b2.got.Load())
	assert.Positive(t, b2.got.Load())
}

// dnsServer answers A queries for one name from a mutable list.
type dnsServer struct {
	mu  sync.Mutex
	ips []string
	srv *mdns.Server
}

func newDNSServer(t *testing.T, name string, ips ...string) string {
	d := &dnsServer{ips: ips}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	mux := mdns.NewServeMux()
	mux.HandleFunc(mdns.Fqdn(name), func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		d.mu.Lock()
		if r.Question[0].Qtype == mdns.TypeA {
			for _, ip := range d.ips {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 1}, A: net.ParseIP(ip)})
			}
		}
		d.mu.Unlock()
		_ = w.WriteMsg(m)
	})
	started := make(chan struct{})
	d.srv = &mdns.Server{PacketConn: pc, Handler: mux, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = d.srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = d.srv.Shutdown() })
	return pc.LocalAddr().String()
}

// DNS resolver through YAML: the name resolves to 127.0.0.1 and the port
// (an integer, as in the seed) is the sink's.
func TestGRPCThroughDNSResolverYAML(t *testing.T) {
	s := newGRPCSink(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(s.addr)
	ns := newDNSServer(t, "gateways.test", "127.0.0.1")
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"routing_key": "traceID",
		"protocol":    map[string]any{"otlp": map[string]any{"tls": map[string]any{"insecure": true}}},
		"resolver": map[string]any{"dns": map[string]any{
			"hostname": "gateways.test", "port": mustAtoi(t, port), "interval": "100ms", "timeout": "1s", "nameserver": ns,
		}},
	}).Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	exp := startTracesExporter(t, NewFactory(), cfg)
	td := tracegen.Batches(tracegen.Spec{Traces: 50, SpansPerTrace: 2})[0]
	require.Eventually(t, func() bool {
		return exp.ConsumeTraces(context.Background(), ptraceCopy(td)) == nil && s.got.Load() > 0
	}, 10*time.Second, 50*time.Millisecond)
	assert.EqualValues(t, 0, int(s.got.Load())%100)
}

func ptraceCopy(td ptrace.Traces) ptrace.Traces {
	c := ptrace.NewTraces()
	td.CopyTo(c)
	return c
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}
