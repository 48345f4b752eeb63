package tailsampler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
)

func TestTimingDecidesAtDeadline(t *testing.T) {
	tests := []struct {
		name string
		wait time.Duration
	}{
		{"sub-second wait is not truncated", 250 * time.Millisecond},
		{"one second", time.Second},
		{"thirty seconds", 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.DecisionWait = tt.wait })
			h.consume(t, spansOf(1, 3, true, false))
			h.clock.Advance(tt.wait - time.Millisecond)
			// Not early: give the decider every chance to run.
			time.Sleep(20 * time.Millisecond)
			assert.Equal(t, 0, h.sink.SpanCount())
			assert.Equal(t, 1, h.pending())
			// Decided within the timer resolution after the deadline.
			h.clock.Advance(time.Millisecond + timerResolution)
			h.waitForwarded(t, 3)
			assert.Equal(t, 0, h.pending())
			m := h.metrics(t)
			assert.LessOrEqual(t, m[mDecisionDelay]["max"], int64(100))
		})
	}
}

func TestTimingRootReceived(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.DecisionWait = 10 * time.Second
		c.DecisionWaitAfterRootReceived = 200 * time.Millisecond
	})
	h.consume(t, spansOf(1, 2, true, true)) // children only
	h.clock.Advance(time.Second)
	h.consume(t, spansOf(1, 1, true, false)) // the root
	h.clock.Advance(150 * time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, 0, h.sink.SpanCount())
	h.clock.Advance(60 * time.Millisecond)
	h.waitForwarded(t, 3)
}

func TestDecisionsAreBatched(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.NumShards = 1 })
	for i := 0; i < 100; i++ {
		h.consume(t, spansOf(i, 2, true, false))
	}
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 200)
	// One decision round forwarded all 100 traces in one call.
	assert.Len(t, h.sink.AllTraces(), 1)
}

func TestLateSpansFollowDecision(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, spansOf(1, 2, true, false))  // kept
	h.consume(t, spansOf(2, 2, false, false)) // not kept
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 2)
	require.Equal(t, 0, h.pending())

	// Late spans: the kept trace's spans are forwarded at once even though
	// they say keep=false, the dropped trace's are dropped; neither starts
	// a new pending trace.
	h.consume(t, spansOf(1, 3, false, true))
	h.consume(t, spansOf(2, 3, false, true))
	assert.Equal(t, 0, h.pending())
	h.waitForwarded(t, 5)
	m := h.metrics(t)
	assert.Equal(t, map[string]int64{"sampled=true": 3, "sampled=false": 3}, m[mEarlyReleases])
	assert.Zero(t, total(m, mLateReversed), "no decision reversed")
	assert.Equal(t, int64(2), total(m, mNewTraceID))
	assert.Equal(t, map[string]int64{"decision=sampled,sampled=true": 1, "decision=not_sampled,sampled=false": 1}, m[mGlobalSampled])
}

// TestLateSpansOfDroppedTrace: with reevaluate_late_spans, late spans of
// a trace that matched no policy are evaluated on their own, so a span that would have kept the
// trace (an error span arriving after decision_wait) is never dropped
// unseen; a veto stays final.
func TestLateSpansOfDroppedTrace(t *testing.T) {
	dropMarked := PolicyCfg{Name: "drop-marked", Type: "drop", Drop: DropCfg{SubPolicies: []PolicyCfg{
		{Name: "marked", Type: "boolean_attribute", BooleanAttribute: BooleanAttributeCfg{Key: "drop", Value: true}},
	}}}
	// Keeps traces without a span marked veto=true. invert_match only flips
	// the policy's own match (as upstream): a trace with such a span is not
	// sampled, not vetoed, so its late spans without it are kept.
	notVetoed := PolicyCfg{Name: "not-vetoed", Type: "boolean_attribute",
		BooleanAttribute: BooleanAttributeCfg{Key: "veto", Value: true, InvertMatch: true}}
	vetoMarked := func() ptrace.Traces {
		td := spansOf(1, 2, false, false)
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutBool("veto", true)
		return td
	}
	tests := []struct {
		name     string
		upstream bool // reevaluate_late_spans off, as upstream
		mutate   func(*Config)
		first    func() ptrace.Traces // decided not sampled
		late     func() ptrace.Traces
		forwards int   // late spans forwarded
		reversed int64 // late_spans_reversed
	}{
		{
			name:     "matched no policy, a late span matches",
			first:    func() ptrace.Traces { return spansOf(1, 2, false, false) },
			late:     func() ptrace.Traces { return spansOf(1, 3, true, true) },
			forwards: 3, reversed: 3,
		},
		{
			name:     "matched no policy, a late span matches, reevaluate_late_spans off",
			upstream: true,
			first:    func() ptrace.Traces { return spansOf(1, 2, false, false) },
			late:     func() ptrace.Traces { return spansOf(1, 3, true, true) },
		},
		{
			name:  "matched no policy, the late spans match none",
			first: func() ptrace.Traces { return spansOf(1, 2, false, false) },
			late:  func() ptrace.Traces { return spansOf(1, 3, false, true) },
		},
		{
			name:   "vetoed by a drop policy",
			mutate: func(c *Config) { c.Policies = append(c.Policies, dropMarked) },
			first: func() ptrace.Traces {
				td := spansOf(1, 2, true, false)
				td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutBool("drop", true)
				return td
			},
			late: func() ptrace.Traces { return spansOf(1, 3, true, true) },
		},
		{
			name:     "not sampled by an inverted match, which is no veto",
			mutate:   func(c *Config) { c.Policies = []PolicyCfg{notVetoed} },
			first:    vetoMarked,
			late:     func() ptrace.Traces { return spansOf(1, 3, true, true) },
			forwards: 3, reversed: 3,
		},
		{
			name: "vetoed by maximum_trace_size_bytes",
			mutate: func(c *Config) {
				c.MaximumTraceSizeBytes = 10
			},
			first: func() ptrace.Traces { return spansOf(1, 1, false, false) }, // dropped as it arrives
			late:  func() ptrace.Traces { return spansOf(1, 3, true, true) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.ReevaluateLateSpans = !tt.upstream
				if tt.mutate != nil {
					tt.mutate(c)
				}
			})
			h.consume(t, tt.first())
			h.advance(t, time.Second+timerResolution)
			require.Equal(t, 0, h.pending())
			require.Equal(t, 0, h.sink.SpanCount())

			h.consume(t, tt.late())
			assert.Equal(t, 0, h.pending(), "late spans never start a new pending trace")
			h.waitForwarded(t, tt.forwards)
			m := h.metrics(t)
			assert.Equal(t, tt.reversed, total(m, mLateReversed))
			// Every late span was found in the not-sampled cache, reversed or not.
			assert.Equal(t, int64(3), m[mEarlyReleases]["sampled=false"])

			// The spans still to come follow the latest decision.
			h.consume(t, spansOf(1, 1, false, true))
			want := 0
			if tt.reversed > 0 {
				want = 1
			}
			h.waitForwarded(t, tt.forwards+want)
		})
	}
}

func TestLateSpansWithoutCacheGetFreshDecision(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.DecisionCache = DecisionCacheConfig{}
	})
	h.consume(t, spansOf(1, 2, false, false))
	h.advance(t, time.Second+timerResolution)
	h.consume(t, spansOf(1, 1, true, true))
	assert.Equal(t, 1, h.pending())
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 1)
}

func TestOverflowDecidesOldestEarly(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.NumTraces = 10
		c.NumShards = 1
	})
	for i := 0; i < 15; i++ {
		h.consume(t, spansOf(i, 2, i%2 == 0, false))
		h.clock.Advance(time.Millisecond) // distinct first-seen times
	}
	assert.Equal(t, 10, h.pending())
	// The five oldest were decided on what they had: the kept ones
	// (0, 2, 4) are forwarded, nothing was dropped undecided.
	h.waitForwarded(t, 6)
	m := h.metrics(t)
	assert.Equal(t, int64(5), m[mEarlyDecisions]["reason=num_traces"])
	assert.Equal(t, int64(0), total(m, mDroppedTooEarly))
	h.advance(t, 2*time.Second)
	h.waitForwarded(t, 16) // 8 even traces × 2 spans
	assert.Equal(t, 0, h.pending())
}

func TestMaxBufferedBytes(t *testing.T) {
	one := spansOf(0, 4, true, false)
	size := 0
	one.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).CopyTo(ptrace.NewSpan())
	for i := 0; i < 4; i++ {
		size += spanBytes(one.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(i))
	}
	h := newHarness(t, func(c *Config) {
		c.NumShards = 1
		c.MaxBufferedBytes = uint64(3*size + size/2) // room for 3.5 traces
	})
	for i := 0; i < 6; i++ {
		h.consume(t, spansOf(i, 4, true, false))
	}
	assert.Equal(t, 3, h.pending())
	h.waitForwarded(t, 12)
	m := h.metrics(t)
	assert.Equal(t, int64(3), m[mEarlyDecisions]["reason=max_buffered_bytes"])
	_, bytes := h.p.bufferedTotals()
	assert.LessOrEqual(t, bytes, int64(h.p.cfg.MaxBufferedBytes))
}

func TestMaximumTraceSizeDropsTrace(t *testing.T) {
	one := spansOf(0, 1, true, false)
	size := spanBytes(one.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0))
	h := newHarness(t, func(c *Config) { c.MaximumTraceSizeBytes = uint64(3 * size) })
	h.consume(t, spansOf(1, 4, true, false)) // too large
	h.consume(t, spansOf(2, 2, true, false))
	assert.Equal(t, 1, h.pending())
	h.consume(t, spansOf(1, 1, true, true)) // late span of the dropped trace
	assert.Equal(t, 1, h.pending())
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 2)
	assert.Equal(t, int64(1), total(h.metrics(t), mDroppedTooLarge))
}

func TestBlockOnOverflow(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.NumTraces = 2
		c.NumShards = 1
		c.BlockOnOverflow = true
	})
	h.consume(t, spansOf(1, 1, true, false))
	h.consume(t, spansOf(2, 1, true, false))

	// A third trace waits for room...
	done := make(chan error, 1)
	go func() { done <- h.p.ConsumeTraces(context.Background(), spansOf(3, 1, true, false)) }()
	select {
	case err := <-done:
		t.Fatalf("ConsumeTraces returned before room was made: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// ...and proceeds once the deciders free a slot.
	h.clock.Advance(time.Second + timerResolution)
	require.NoError(t, <-done)
	h.waitForwarded(t, 2)
	assert.Equal(t, 1, h.pending())

	// A caller whose context ends stops waiting; its data is not lost: the
	// oldest trace is decided early instead.
	h.consume(t, spansOf(4, 1, true, false))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	require.NoError(t, h.p.ConsumeTraces(ctx, spansOf(5, 1, true, false)))
	h.waitForwarded(t, 3)
	assert.Equal(t, int64(1), h.metrics(t)[mEarlyDecisions]["reason=num_traces"])
	assert.Positive(t, total(h.metrics(t), mBackpressureWaits))
}

func TestSlowConsumerBackpressure(t *testing.T) {
	slow := newSlowSink(t)
	h := newHarness(t, func(c *Config) { c.NumShards = 1 }, slow)
	t.Cleanup(slow.release) // runs before the harness's Shutdown
	h.p.fwd.limit = 5

	for i := 0; i < 10; i++ {
		h.consume(t, spansOf(i, 1, true, false))
	}
	// Decisions are not stalled by the blocked consumer.
	h.advance(t, time.Second+timerResolution)
	assert.Equal(t, 0, h.pending())

	// But ingest is: the queue holds more than the limit.
	done := make(chan error, 1)
	go func() { done <- h.p.ConsumeTraces(context.Background(), spansOf(100, 1, true, false)) }()
	select {
	case err := <-done:
		t.Fatalf("ConsumeTraces did not wait for the slow consumer: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// A caller with a deadline gets an error and nothing was taken.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := h.p.ConsumeTraces(ctx, spansOf(101, 1, true, false))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	slow.release()
	require.NoError(t, <-done)
	h.advance(t, time.Second+timerResolution)
	require.Eventually(t, func() bool { return slow.SpanCount() == 11 }, 5*time.Second, time.Millisecond)
}

func TestShutdownFlushesPending(t *testing.T) {
	tests := []struct {
		name      string
		drop      bool
		forwarded int
		dropped   int64
	}{
		{"decides pending traces", false, 4, 0},
		{"drops and counts pending traces", true, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.DropPendingTracesOnShutdown = tt.drop })
			for i := 0; i < 4; i++ {
				h.consume(t, spansOf(i, 1, true, false))
			}
			h.consume(t, spansOf(10, 1, false, false))
			require.NoError(t, h.p.Shutdown(context.Background()))
			assert.Equal(t, tt.forwarded, h.sink.SpanCount())
			if tt.drop {
				assert.Equal(t, int64(5), total(h.metrics(t), mDroppedOnShutdown))
			} else {
				assert.Equal(t, int64(0), total(h.metrics(t), mDroppedOnShutdown))
			}
			for _, s := range h.p.shards {
				assert.Nil(t, s.index)
				assert.Nil(t, s.entries)
			}
			require.ErrorIs(t, h.p.ConsumeTraces(context.Background(), spansOf(1, 1, true, false)), ErrStopped)
			require.NoError(t, h.p.Shutdown(context.Background())) // idempotent
		})
	}
}

func TestShutdownHonoursDeadline(t *testing.T) {
	slow := newSlowSink(t) // never released
	h := newHarness(t, nil, slow)
	h.consume(t, spansOf(1, 2, true, false))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := h.p.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int64(2), total(h.metrics(t), mForwardFailed))
}

func TestShutdownBeforeStart(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Policies = []PolicyCfg{{Name: "all", Type: "always_sample"}}
	sink := &consumertest.TracesSink{}
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(componentType), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.ConsumeTraces(context.Background(), spansOf(1, 2, true, false)))
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, 2, sink.SpanCount())
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestForwardErrorsAreCounted(t *testing.T) {
	failing := consumertest.NewErr(errors.New("backend down"))
	h := newHarness(t, nil, failing)
	h.consume(t, spansOf(1, 3, true, false))
	h.advance(t, time.Second+timerResolution)
	require.Eventually(t, func() bool { return total(h.metrics(t), mForwardFailed) == 3 }, 5*time.Second, time.Millisecond)
}

func TestDecidedTracesFreeMemory(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.NumShards = 1; c.NumTraces = 100 })
	for round := 0; round < 3; round++ {
		for i := 0; i < 100; i++ {
			h.consume(t, spansOf(round*1000+i, 3, i%3 == 0, false))
		}
		assert.Equal(t, 100, h.pending())
		h.advance(t, time.Second+timerResolution)
		assert.Equal(t, 0, h.pending())
	}
	// No early decisions: decided traces did not count against num_traces.
	assert.Equal(t, int64(0), total(h.metrics(t), mEarlyDecisions))
	s := h.p.shards[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Empty(t, s.index)
	assert.Len(t, s.free, len(s.entries)) // every slot reusable
	assert.LessOrEqual(t, len(s.entries), 100)
	for _, e := range s.entries {
		for _, r := range e.refs[:cap(e.refs)] {
			assert.Nil(t, r.b, "a freed slot still references an input batch")
		}
	}
}

func TestRecordPolicyAndCapabilities(t *testing.T) {
	for _, record := range []bool{false, true} {
		h := newHarness(t, func(c *Config) { c.RecordPolicy = record })
		assert.Equal(t, record, h.p.Capabilities().MutatesData)
		in := spansOf(1, 2, true, false)
		h.consume(t, in)
		h.advance(t, time.Second+timerResolution)
		h.waitForwarded(t, 2)
		sp := h.sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		v, ok := sp.Attributes().Get(policyAttribute)
		assert.Equal(t, record, ok)
		if record {
			assert.Equal(t, "marked", v.Str())
		}
		// The input is never modified.
		_, ok = in.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get(policyAttribute)
		assert.False(t, ok)
	}
}

func TestSpanIngestStrategy(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.SamplingStrategy = StrategySpanIngest })
	h.consume(t, spansOf(1, 2, true, false)) // kept at once
	h.waitForwarded(t, 2)
	assert.Equal(t, 0, h.pending())
	h.consume(t, spansOf(2, 2, false, false)) // undecided
	assert.Equal(t, 1, h.pending())
	h.consume(t, spansOf(2, 1, true, true)) // now matches: kept with its earlier spans
	h.waitForwarded(t, 5)
	h.consume(t, spansOf(3, 2, false, false))
	h.advance(t, time.Second+timerResolution) // unresolved at the deadline: not sampled
	assert.Equal(t, 0, h.pending())
	h.consume(t, spansOf(3, 1, true, true)) // late: follows not sampled
	assert.Equal(t, 5, h.sink.SpanCount())
}

func TestConsumeEmptyAndOddInput(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Policies = []PolicyCfg{{Name: "all", Type: "always_sample"}}
	})
	h.consume(t, ptrace.NewTraces())
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty() // no scope
	rs := td.ResourceSpans().AppendEmpty()
	rs.ScopeSpans().AppendEmpty() // no spans
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetEndTimestamp(1) // zero trace ID, end before start is fine
	sp.SetStartTimestamp(5)
	h.consume(t, td)
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 1)
}
