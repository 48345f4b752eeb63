package tailsampler

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/manual"
	"github.com/tailgate-otel/tailgate/tailsampler/internal/handoff"
)

// benchPair starts two gateways on one ring (handoff on, replication as
// given) with a decision_wait of an hour: everything stays pending.
func benchPair(b *testing.B, replicate bool) ([2]*handoffSampler, *hashring.Ring) {
	b.Helper()
	eps := []string{gwA, gwB}
	addrs := map[string]string{}
	for _, ep := range eps {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs[ep] = ln.Addr().String()
		_ = ln.Close()
	}
	var gws [2]*handoffSampler
	for i, ep := range eps {
		fac := NewFactory(withHandoffOptions(
			handoff.WithResolverFactory(func(_ resolver.Config, set resolver.Settings, l resolver.Listener) (resolver.Resolver, error) {
				return manual.New(set, l, eps...)
			}),
			handoff.WithPeerAddress(func(ep string) string { return addrs[ep] }),
			handoff.WithSettleDelay(-1),
		))
		cfg := fac.CreateDefaultConfig().(*Config)
		cfg.DecisionWait = time.Hour
		cfg.NumTraces = 1_000_000
		cfg.Policies = benchPolicies["P2"]
		hc := cfg.Handoff.GetOrInsertDefault()
		hc.Endpoint = ep
		hc.Resolver = resolver.Config{Static: &resolver.StaticConfig{Hostnames: eps}}
		hc.Listen.NetAddr.Endpoint = addrs[ep]
		hc.Replicate = replicate
		proc, err := fac.CreateTraces(context.Background(), newNopSettings(), cfg, &countingSink{})
		if err != nil {
			b.Fatal(err)
		}
		gws[i] = proc.(*handoffSampler)
		if err := proc.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			b.Fatal(err)
		}
	}
	return gws, hashring.New(eps)
}

// BenchmarkPendingMemoryReplicated is BenchmarkPendingMemory/W (20,000
// traces) for a ring of two gateways, each given the traces it owns: heap
// held per pending span (input pdata included), without replication and
// with it (every span also held, encoded, by the other gateway). The
// ratio of the two is replication's memory cost.
func BenchmarkPendingMemoryReplicated(b *testing.B) {
	for _, rep := range []bool{false, true} {
		name := "replicate=off"
		if rep {
			name = "replicate=on"
		}
		b.Run(name, func(b *testing.B) {
			var perSpan float64
			for i := 0; i < b.N; i++ {
				gws, ring := benchPair(b, rep)
				spec := benchSpec(tracegen.Whole)
				spec.Traces = 20_000
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				var parts [2][]ptrace.Traces
				for _, td := range tracegen.Batches(spec) {
					for g, part := range tracegen.Split(td, func(id pcommon.TraceID) int { return ring.Index(id[:]) }) {
						parts[g] = append(parts[g], part)
					}
				}
				spans := spec.Traces * spec.SpansPerTrace
				for g := range gws {
					for _, td := range parts[g] {
						if err := gws[g].ConsumeTraces(context.Background(), td); err != nil {
							b.Fatal(err)
						}
					}
				}
				parts = [2][]ptrace.Traces{}
				// The decisions of the successors' shadows never come (an
				// hour): what is held is what replication costs.
				runtime.GC()
				runtime.ReadMemStats(&m1)
				if n := gws[0].pendingTotal() + gws[1].pendingTotal(); n != int64(spec.Traces) {
					b.Fatalf("pending %d traces, want %d", n, spec.Traces)
				}
				perSpan += float64(m1.HeapAlloc-m0.HeapAlloc) / float64(spans)
				for _, g := range gws {
					_ = g.eng.Shutdown(context.Background()) // no drain: measured, then thrown away
					if err := g.sampler.Shutdown(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(perSpan/float64(b.N), "B/pending-span")
		})
	}
}
