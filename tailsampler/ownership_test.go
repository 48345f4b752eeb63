package tailsampler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// ownershipCases cover the paths that hand spans on: deadline decisions,
// overflow (early) decisions, late spans through the sampled cache, the
// span-ingest strategy and record_policy.
var ownershipCases = []struct {
	name   string
	layout tracegen.Layout
	mutate func(*Config)
}{
	{"whole", tracegen.Whole, nil},
	{"interleaved", tracegen.Interleaved, nil},
	{"interleaved overflow", tracegen.Interleaved, func(c *Config) { c.NumTraces = 40 }},
	{"record_policy", tracegen.Whole, func(c *Config) { c.RecordPolicy = true }},
	{"span-ingest", tracegen.Interleaved, func(c *Config) { c.SamplingStrategy = StrategySpanIngest }},
}

func ownershipHarness(t *testing.T, mutate func(*Config)) *harness {
	return newHarness(t, func(c *Config) {
		c.NumShards = 3
		c.Policies = []PolicyCfg{{Name: "odd", Type: "keep_odd_id"}}
		if mutate != nil {
			mutate(c)
		}
	})
}

// feedOwnership feeds batches (and a late copy of the first batch, whose
// kept spans go through the sampled cache) and decides everything. It
// returns how many spans must have been forwarded.
func feedOwnership(t *testing.T, h *harness, batches []ptrace.Traces, late ptrace.Traces) int {
	want := 0
	count := func(td ptrace.Traces) {
		forEachSpan(td, func(sp ptrace.Span) {
			if sp.TraceID()[15]%2 == 1 {
				want++
			}
		})
	}
	for _, td := range batches {
		count(td)
		h.consume(t, td)
	}
	h.advance(t, time.Second+timerResolution)
	count(late)
	h.consume(t, late)
	h.waitForwarded(t, want)
	return want
}

func forEachSpan(td ptrace.Traces, fn func(ptrace.Span)) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				fn(spans.At(k))
			}
		}
	}
}

func cloneTraces(td ptrace.Traces) ptrace.Traces {
	cp := ptrace.NewTraces()
	td.CopyTo(cp)
	return cp
}

// Read-only input (shared with other pipelines by the fan-out) is never
// modified: pdata panics on any mutation of read-only data, and the
// batches still equal their copies afterwards.
func TestReadOnlyInputNeverMutated(t *testing.T) {
	for _, tt := range ownershipCases {
		t.Run(tt.name, func(t *testing.T) {
			h := ownershipHarness(t, tt.mutate)
			batches := tracegen.Batches(tracegen.Spec{Traces: 200, SpansPerTrace: 4, TracesPerBatch: 20, Layout: tt.layout})
			var want []ptrace.Traces
			for _, td := range batches {
				w := cloneTraces(td)
				w.MarkReadOnly() // the state is part of the comparison
				want = append(want, w)
				td.MarkReadOnly()
			}
			late := cloneTraces(batches[0])
			wantLate := cloneTraces(late)
			late.MarkReadOnly()
			wantLate.MarkReadOnly()
			require.NotPanics(t, func() { feedOwnership(t, h, batches, late) })
			for i, td := range batches {
				assert.Equal(t, want[i], td, "batch %d changed", i)
			}
			assert.Equal(t, wantLate, late)
		})
	}
}

// Input the processor owns may have its kept spans moved out, but what
// is forwarded is exactly the kept spans, intact, and nothing another
// pending trace needs is touched (run -race: traces of one batch are
// decided by different shards concurrently).
func TestOwnedInputForwardsIntactSpans(t *testing.T) {
	for _, tt := range ownershipCases {
		t.Run(tt.name, func(t *testing.T) {
			h := ownershipHarness(t, tt.mutate)
			batches := tracegen.Batches(tracegen.Spec{Traces: 200, SpansPerTrace: 4, TracesPerBatch: 20, Layout: tt.layout})
			type spanKey struct {
				tid pcommon.TraceID
				sid pcommon.SpanID
			}
			orig := map[spanKey]ptrace.Span{}
			for _, td := range append(batches, batches[0]) {
				forEachSpan(cloneTraces(td), func(sp ptrace.Span) { orig[spanKey{sp.TraceID(), sp.SpanID()}] = sp })
			}
			n := feedOwnership(t, h, batches, cloneTraces(batches[0]))
			got, recorded := 0, 0
			for _, td := range h.sink.AllTraces() {
				forEachSpan(td, func(sp ptrace.Span) {
					got++
					want, ok := orig[spanKey{sp.TraceID(), sp.SpanID()}]
					require.True(t, ok, "unknown span forwarded")
					require.Equal(t, uint8(1), sp.TraceID()[15]%2, "span of a dropped trace forwarded")
					if v, ok := sp.Attributes().Get(policyAttribute); ok {
						// Decided spans carry it with record_policy; late
						// spans released by the cache do not, as before.
						require.True(t, h.p.cfg.RecordPolicy)
						require.Equal(t, "odd", v.Str())
						recorded++
						sp.Attributes().Remove(policyAttribute)
					}
					require.Equal(t, want, sp)
				})
			}
			assert.Equal(t, n, got)
			assert.Equal(t, h.p.cfg.RecordPolicy, recorded > 0)
		})
	}
}

// The processor uses the input's read-only mark to decide whether it owns
// a batch; a batch arriving through a core fan-out that shares it is
// marked, so this checks the one case the processor must get right.
func TestOwnershipFollowsReadOnlyMark(t *testing.T) {
	h := ownershipHarness(t, nil)
	owned := spansOf(1, 2, true, false)
	shared := spansOf(3, 2, true, false)
	shared.MarkReadOnly()
	require.NoError(t, h.p.ConsumeTraces(context.Background(), owned))
	require.NoError(t, h.p.ConsumeTraces(context.Background(), shared))
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 4)
	// The owned batch's kept spans were moved out, the shared one kept.
	assert.True(t, owned.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID().IsEmpty())
	assert.Equal(t, traceID(3), shared.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID())
}
