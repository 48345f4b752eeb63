package workload

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPlaySpreadsEveryTraceOverBothAgents plays a short plan against two real
// OTLP sinks standing in for agents: neither may see any trace whole, both
// together must see every span, and the spans of a trace must leave over
// (SpansPerTrace-1) × SpanGap.
func TestPlaySpreadsEveryTraceOverBothAgents(t *testing.T) {
	a, err := wire.StartSink("127.0.0.1:0")
	require.NoError(t, err)
	defer a.Stop()
	b, err := wire.StartSink("127.0.0.1:0")
	require.NoError(t, err)
	defer b.Stop()
	snd := wire.NewSender()
	defer snd.Close()

	p := Plan{Rate: 200, Duration: 300 * time.Millisecond, SpansPerTrace: 4, SpanGap: 100 * time.Millisecond, Seed: 7}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	begin := time.Now()
	var calls int
	sent, err := Play(ctx, snd, p, []string{a.Addr(), b.Addr()}, func(n, total int) { calls++ })
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(begin), 500*time.Millisecond, "3 ticks of 100ms plus 3 gaps of 100ms")
	assert.Equal(t, 60*4, sent.Spans)
	assert.Positive(t, calls)

	for i := range sent.Spec.Traces {
		id := tracegen.TraceID(p.Seed, i)
		assert.Equal(t, 2, a.SpansOf(id), "trace %d at agent a", i)
		assert.Equal(t, 2, b.SpansOf(id), "trace %d at agent b", i)
		assert.Equal(t, 2, a.ExportsOf(id), "trace %d: one span per export", i)
	}

	// Scoring against sink a: every trace is half there.
	sc := Evaluate(sent, a)
	assert.Equal(t, 60, sc.Traces)
	assert.Equal(t, 60, sc.Errors.Partial+sc.Others.Partial)
	assert.Equal(t, 60, sc.Split())
	assert.Equal(t, 2, sc.Errors.Sent, "every 50th trace: 0 and 50")
	assert.InDelta(t, 1.0, sc.KeptShare(), 1e-9)
}

// TestEvaluateCountsDecisions scores traces that arrived whole in one
// export, whole in two exports (two decisions) and partial: only the first
// is not split.
func TestEvaluateCountsDecisions(t *testing.T) {
	sink, err := wire.StartSink("127.0.0.1:0")
	require.NoError(t, err)
	defer sink.Stop()
	snd := wire.NewSender()
	defer snd.Close()
	ctx := context.Background()

	// Traces 0-2 (0 is an error trace); every batch holds all three, whole.
	spec := tracegen.Spec{Traces: 3, SpansPerTrace: 4, TracesPerBatch: 3, Layout: tracegen.Whole, ErrorEvery: 50, Seed: 9}
	whole := tracegen.Batches(spec)
	require.Len(t, whole, 1)
	// One export holds trace 0 whole; trace 1 comes whole in two exports
	// (spans 0-1, then 2-3); trace 2 loses its last span.
	first, second := ptrace.NewTraces(), ptrace.NewTraces()
	for _, rs := range whole[0].ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				i := map[pcommon.TraceID]int{tracegen.TraceID(9, 0): 0, tracegen.TraceID(9, 1): 1, tracegen.TraceID(9, 2): 2}[sp.TraceID()]
				dst := first
				n := countTrace(first, sp.TraceID())
				switch {
				case i == 1 && n >= 2:
					dst = second
				case i == 2 && n >= 3:
					continue
				}
				sp.CopyTo(dst.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
			}
		}
	}
	require.NoError(t, snd.Send(ctx, sink.Addr(), first))
	require.NoError(t, snd.Send(ctx, sink.Addr(), second))

	sc := Evaluate(Sent{Spec: spec, Spans: 12}, sink)
	assert.Equal(t, Outcome{Sent: 1, Complete: 1}, sc.Errors)
	assert.Equal(t, Outcome{Sent: 2, Complete: 1, Partial: 1, Split: 2}, sc.Others)
	assert.Equal(t, 2, sc.Split())
	assert.Equal(t, 3, sc.Arrived())
}

func countTrace(td ptrace.Traces, id pcommon.TraceID) int {
	n := 0
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				if sp.TraceID() == id {
					n++
				}
			}
		}
	}
	return n
}

func TestPlayRejectsNoAgents(t *testing.T) {
	_, err := Play(context.Background(), wire.NewSender(), Plan{}, nil, nil)
	require.Error(t, err)
}

func TestSpecDefaults(t *testing.T) {
	tests := []struct {
		plan             Plan
		traces, perBatch int
	}{
		{Plan{}, 100 * 5, 10},
		{Plan{Rate: 1000, Duration: time.Second}, 1000, 100},
		{Plan{Rate: 5, Duration: time.Second}, 10, 1}, // at least one trace per tick
	}
	for _, tt := range tests {
		s := tt.plan.Spec(time.Unix(0, 0))
		assert.Equal(t, tt.traces, s.Traces)
		assert.Equal(t, tt.perBatch, s.TracesPerBatch)
		assert.Equal(t, 10, s.SpansPerTrace)
		assert.Equal(t, 50, s.ErrorEvery)
	}
}

// With KeepGoing an agent that refuses is what an application sees: its
// spans are counted as failed, the rest of the traffic still goes, and the
// slowest call is reported.
func TestPlayKeepGoingCountsFailedExports(t *testing.T) {
	sink, err := wire.StartSink("127.0.0.1:0")
	require.NoError(t, err)
	defer sink.Stop()
	snd := wire.NewSender()
	defer snd.Close()
	closed := "127.0.0.1:1" // nothing listens: every call fails
	p := Plan{Rate: 100, Duration: 200 * time.Millisecond, SpansPerTrace: 2, SpanGap: 10 * time.Millisecond, Seed: 8,
		KeepGoing: true, CallTimeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent, err := Play(ctx, snd, p, []string{sink.Addr(), closed}, nil)
	require.NoError(t, err)
	assert.Equal(t, 20, sent.Spans, "span 0 of every trace, to the sink")
	assert.Equal(t, 20, sent.Failed, "span 1 of every trace, to nobody")
	assert.Equal(t, 4, sent.Calls())
	assert.Positive(t, sent.Slowest())
	require.Len(t, sent.Log, 4)
	failed := 0
	for _, c := range sent.Log {
		if c.Err != nil {
			failed += c.Spans
		}
	}
	assert.Equal(t, 20, failed)
	assert.Equal(t, sent.Slowest(), sent.SlowestBetween(sent.Log[0].At, sent.Last.Add(time.Second)))
	assert.Zero(t, sent.SlowestBetween(sent.Last.Add(time.Second), sent.Last.Add(2*time.Second)))
	distinct, _ := sink.Spans()
	assert.Equal(t, 20, distinct)

	_, err = Play(ctx, snd, Plan{Rate: 100, Duration: 100 * time.Millisecond, Seed: 9}, []string{closed}, nil)
	require.Error(t, err, "without KeepGoing the first failure ends the play")
}
