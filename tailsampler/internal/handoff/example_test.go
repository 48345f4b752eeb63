package handoff_test

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/tailsampler/internal/handoff"
)

// noBuffer stands in for the tail sampler's buffer.
type noBuffer struct{}

func (noBuffer) TakeNotOwned(func(pcommon.TraceID) bool) []handoff.Pending   { return nil }
func (noBuffer) RecentDecisions(time.Time, func(pcommon.TraceID, bool))      {}
func (noBuffer) ImportTrace(context.Context, ptrace.Traces, time.Time) error { return nil }
func (noBuffer) ImportDecision(pcommon.TraceID, bool)                        {}

// The processor builds the engine from its `handoff:` block, routes every
// ingested batch through it, and drains it on shutdown.
func Example() {
	cfg := handoff.NewDefaultConfig()
	cfg.Endpoint = "127.0.0.1:4317" // ${env:POD_IP}:4317 in a pod
	cfg.Resolver.Static = &resolver.StaticConfig{Hostnames: []string{"127.0.0.1:4317"}}
	cfg.Listen.NetAddr.Endpoint = "127.0.0.1:0"

	e, err := handoff.New(cfg, componenttest.NewNopTelemetrySettings(), noBuffer{},
		handoff.WithDecisionWait(10*time.Second))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := e.Start(ctx, componenttest.NewNopHost()); err != nil {
		panic(err)
	}

	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().
		SetTraceID(pcommon.TraceID{1, 2, 3})
	kept := e.Route(td) // buffer kept; the rest went to its owner
	fmt.Println("kept spans:", kept.SpanCount())

	_ = e.Drain(ctx) // the only gateway: nothing to hand off
	_ = e.Shutdown(ctx)
	// Output: kept spans: 1
}
