package tailsampler_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/resolver/manual"
	"github.com/tailgate-otel/tailgate/tailsampler"
)

// A gateway tier embedded in a Go program, from this module's public API
// alone: tail samplers with the handoff, whose gateway set the program
// owns (a manual.Source, which would feed its agents'
// lbexporter.WithResolver too). Gateway 1 buffers 40 traces; gateway 2
// joins; gateway 1 hands it, over gRPC, the undecided traces it now owns,
// and every trace is decided once, by its owner, on its original schedule.
func Example_gatewayWithHandoff() {
	ctx := context.Background()
	// Ring endpoints are the gateways' addresses as agents see them; each
	// gateway's handoff listener is on its own host, at one port.
	gw1, gw2 := "127.0.10.1:4317", "127.0.10.2:4317"
	port := freePort()
	gateways := manual.NewSource(gw1)

	kept := map[string]*consumertest.TracesSink{}
	start := func(endpoint string) processor.Traces {
		f := tailsampler.NewFactory(tailsampler.WithHandoffResolver(gateways.Resolver))
		cfg := f.CreateDefaultConfig().(*tailsampler.Config)
		cfg.DecisionWait = 2 * time.Second // also how long a handoff is retried
		cfg.Policies = []tailsampler.PolicyCfg{{Name: "keep-all", Type: "always_sample"}}
		h := cfg.Handoff.GetOrInsertDefault() // the `handoff:` block, on
		h.Endpoint = endpoint
		host, _, _ := net.SplitHostPort(endpoint)
		h.Listen.NetAddr.Endpoint = net.JoinHostPort(host, port)
		if err := confmap.Validate(cfg); err != nil {
			panic(err)
		}
		kept[endpoint] = new(consumertest.TracesSink)
		p, err := f.CreateTraces(ctx, processortest.NewNopSettings(f.Type()), cfg, kept[endpoint])
		if err != nil {
			panic(err)
		}
		if err := p.Start(ctx, componenttest.NewNopHost()); err != nil {
			panic(err)
		}
		return p
	}

	p1 := start(gw1)
	for i := range 40 {
		if err := p1.ConsumeTraces(ctx, oneSpanTrace(i)); err != nil {
			panic(err)
		}
	}
	p2 := start(gw2)
	gateways.Set(gw1, gw2) // both gateways (and agents) move to the new ring

	deadline := time.Now().Add(30 * time.Second)
	for kept[gw1].SpanCount()+kept[gw2].SpanCount() < 40 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	ring := hashring.New([]string{gw1, gw2})
	for _, ep := range []string{gw1, gw2} {
		owned := 0
		for _, td := range kept[ep].AllTraces() {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						if id := sp.TraceID(); ring.Get(id[:]) == ep {
							owned++
						}
					}
				}
			}
		}
		fmt.Printf("%s kept %d traces, %d of them its own\n", ep, kept[ep].SpanCount(), owned)
	}
	shutCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fmt.Println(p2.Shutdown(shutCtx), p1.Shutdown(shutCtx))
	// Output:
	// 127.0.10.1:4317 kept 21 traces, 21 of them its own
	// 127.0.10.2:4317 kept 19 traces, 19 of them its own
	// <nil> <nil>
}

func oneSpanTrace(i int) ptrace.Traces {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[8:], uint64(i)*0x9e3779b97f4a7c15)
	sp.SetTraceID(id)
	sp.SetSpanID(pcommon.SpanID{1})
	sp.SetName("GET /")
	now := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	return td
}

// freePort is a port free on loopback right now, for handoff listeners
// that must share one.
func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
