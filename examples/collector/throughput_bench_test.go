package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tailgate-otel/tailgate/examples/internal/dnsserver"
	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/cputime"
	"github.com/tailgate-otel/tailgate/internal/freeport"
	"github.com/tailgate-otel/tailgate/internal/testcert"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/tailsampler"
)

// BenchmarkGatewayThroughput is the gateway's sampling path (tail_sampling
// then batch, built by the distribution's factories from
// configs/gateway-config.loopback-handoff.yaml) in the steady state, with
// the file's handoff block and without it (the same config, block removed).
// With handoff the gateway resolves its ring through DNS, as in the e2e
// scenarios, and owns every trace (the ring is itself): every span passes
// the ownership check and nothing moves. decision_wait is 1 s so that
// decisions run during the benchmark; every trace ID is new.
func BenchmarkGatewayThroughput(b *testing.B) {
	dns, err := dnsserver.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer dns.Stop()
	dns.Set("gateways.bench", netip.MustParseAddr("127.0.0.1"))
	dns.Set("pair.bench", netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"))
	b.Setenv("GATEWAY_HOST", "127.0.0.1")
	b.Setenv("GATEWAY_HOSTNAME", "gateways.bench")
	b.Setenv("DNS_NAMESERVER", dns.Addr())
	b.Setenv("BACKEND_ENDPOINT", "127.0.0.1:1")
	// The handoff listener's mutual-TLS certificate.
	tlsDir := b.TempDir()
	if err := testcert.SecretDir(tlsDir, []string{"gateway-collector-handoff.observability.svc"}, nil); err != nil {
		b.Fatal(err)
	}
	b.Setenv("HANDOFF_TLS_DIR", tlsDir)

	for _, on := range []bool{false, true} {
		name := "handoff=off"
		if on {
			name = "handoff=on"
		}
		b.Run(name, func(b *testing.B) { benchGateway(b, on) })
	}
	for _, on := range []bool{false, true} {
		name := "pair/replicate=off"
		if on {
			name = "pair/replicate=on"
		}
		b.Run(name, func(b *testing.B) { benchGatewayPair(b, on) })
	}
}

// benchGatewayPair is two gateways on one ring (127.0.0.1 and 127.0.0.2
// in DNS), each given the spans it owns, by two concurrent callers each
// (as several agents send): with replication every span is also sent to,
// and held by, the other gateway. Both run in this process on the same
// cores, so spans/s is what two gateways sustain together, each being
// owner and successor: the cost of replication against the same pair
// without it. The handoff listeners use a port free on both addresses.
var callers = 4

func benchGatewayPair(b *testing.B, replicate bool) {
	b.Setenv("GATEWAY_HOSTNAME", "pair.bench")
	cfg, err := otelcolLoad(b)
	if err != nil {
		b.Fatal(err)
	}
	f, err := components()
	if err != nil {
		b.Fatal(err)
	}
	port, err := freeport.Common("127.0.0.1", "127.0.0.2")
	if err != nil {
		b.Fatal(err)
	}
	tsID, batchID := component.MustNewID("tail_sampling"), component.MustNewID("batch")
	ctx := context.Background()
	host := componenttest.NewNopHost()
	var gws []processor.Traces
	var eps []string
	for i := 1; i <= 2; i++ {
		ts := *cfg.Processors[tsID].(*tailsampler.Config)
		// Short, so that the decisions (and, with replication, the
		// successors' frees) of most spans fall inside the timed parts.
		ts.DecisionWait = 200 * time.Millisecond
		hc := *ts.Handoff.Get()
		hc.Endpoint = fmt.Sprintf("127.0.0.%d:4317", i)
		hc.Listen.NetAddr.Endpoint = fmt.Sprintf("127.0.0.%d:%d", i, port)
		hc.PeerPort = port
		hc.Replicate = replicate
		ts.Handoff = configoptional.Some(hc)
		eps = append(eps, hc.Endpoint)
		batch, err := f.Processors[batchID.Type()].CreateTraces(ctx, processortest.NewNopSettings(batchID.Type()), cfg.Processors[batchID], consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		sampler, err := f.Processors[tsID.Type()].CreateTraces(ctx, processortest.NewNopSettings(tsID.Type()), &ts, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []component.Component{batch, sampler} {
			if err := c.Start(ctx, host); err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := c.Shutdown(ctx); err != nil {
					b.Error(err)
				}
			}()
		}
		gws = append(gws, sampler)
	}
	time.Sleep(300 * time.Millisecond) // first DNS answers: both see the ring of two
	ring := hashring.New(eps)

	const chunk = 64
	spans, seed := 0, uint64(1000)
	var cpu int64 // CPU time of the timed parts, every goroutine included
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += chunk {
		b.StopTimer()
		seed++
		n := min(chunk, b.N-i)
		var parts [2][]ptrace.Traces
		for _, td := range tracegen.Batches(tracegen.Spec{Traces: n * 100, SpansPerTrace: 10, TracesPerBatch: 100, ErrorEvery: 50, Seed: seed}) {
			spans += td.SpanCount()
			for g, part := range tracegen.Split(td, func(id pcommon.TraceID) int { return slices.Index(eps, ring.Get(id[:])) }) {
				parts[g] = append(parts[g], part)
			}
		}
		b.StartTimer()
		cpu0, _ := cputime.Process()
		var wg sync.WaitGroup
		for g := range gws {
			for h := 0; h < callers; h++ {
				wg.Go(func() {
					for k := h; k < len(parts[g]); k += callers {
						if err := gws[g].ConsumeTraces(ctx, parts[g][k]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
		}
		wg.Wait()
		if cpu1, ok := cputime.Process(); ok {
			cpu += cpu1 - cpu0
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(spans), "cpu-ns/span")
	}
}

func benchGateway(b *testing.B, handoffOn bool) {
	cfg, err := otelcolLoad(b)
	if err != nil {
		b.Fatal(err)
	}
	f, err := components()
	if err != nil {
		b.Fatal(err)
	}
	tsID, batchID := component.MustNewID("tail_sampling"), component.MustNewID("batch")
	ts := cfg.Processors[tsID].(*tailsampler.Config)
	ts.DecisionWait = time.Second
	if !handoffOn {
		setZero(&ts.Handoff)
	}
	ctx := context.Background()
	host := componenttest.NewNopHost()
	batch, err := f.Processors[batchID.Type()].CreateTraces(ctx, processortest.NewNopSettings(batchID.Type()), cfg.Processors[batchID], consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	sampler, err := f.Processors[tsID.Type()].CreateTraces(ctx, processortest.NewNopSettings(tsID.Type()), ts, batch)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []component.Component{batch, sampler} {
		if err := c.Start(ctx, host); err != nil {
			b.Fatal(err)
		}
	}
	if handoffOn {
		time.Sleep(200 * time.Millisecond) // first DNS answer: the ring is this gateway
	}

	// Chunks of fresh batches (100 traces × 10 spans, 1 in 50 with an
	// error), generated with the timer stopped.
	const chunk = 64
	spans, seed := 0, uint64(0)
	var batches []ptrace.Traces
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%chunk == 0 {
			b.StopTimer()
			seed++
			batches = tracegen.Batches(tracegen.Spec{Traces: chunk * 100, SpansPerTrace: 10, TracesPerBatch: 100, ErrorEvery: 50, Seed: seed})
			b.StartTimer()
		}
		td := batches[i%chunk]
		spans += td.SpanCount()
		if err := sampler.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
	for _, c := range []component.Component{sampler, batch} {
		if err := c.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// otelcolLoad loads the loopback handoff gateway config as the distribution
// would.
func otelcolLoad(b *testing.B) (*otelcol.Config, error) {
	b.Helper()
	f, err := components()
	if err != nil {
		return nil, err
	}
	return otelcoltest.LoadConfigAndValidate("../configs/gateway-config.loopback-handoff.yaml", f)
}
