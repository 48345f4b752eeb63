package tracegen

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func traceSpans(batches []ptrace.Traces) map[pcommon.TraceID][]int {
	got := map[pcommon.TraceID][]int{}
	for bi, td := range batches {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					got[sp.TraceID()] = append(got[sp.TraceID()], bi)
				}
			}
		}
	}
	return got
}

func TestLayouts(t *testing.T) {
	tests := []struct {
		name        string
		spec        Spec
		wantBatches int
		// batches a single trace's spans are spread over
		wantSpread int
	}{
		{"whole", Spec{Traces: 250, SpansPerTrace: 4, TracesPerBatch: 100}, 3, 1},
		{"interleaved", Spec{Traces: 250, SpansPerTrace: 4, TracesPerBatch: 100, Layout: Interleaved}, 12, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Batches(tt.spec)
			require.Len(t, b, tt.wantBatches)
			assert.Equal(t, 250*4, SpanCount(b))
			per := traceSpans(b)
			require.Len(t, per, 250)
			for id, batches := range per {
				require.Len(t, batches, 4, "trace %v", id)
				distinct := map[int]bool{}
				for _, x := range batches {
					distinct[x] = true
				}
				assert.Len(t, distinct, tt.wantSpread)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	spec := Spec{Traces: 50, ErrorEvery: 7, SlowEvery: 5, Seed: 42}
	a, b := Batches(spec), Batches(spec)
	m := ptrace.ProtoMarshaler{}
	for i := range a {
		x, err := m.MarshalTraces(a[i])
		require.NoError(t, err)
		y, err := m.MarshalTraces(b[i])
		require.NoError(t, err)
		assert.Equal(t, x, y)
	}
	assert.NotEqual(t, TraceID(1, 0), TraceID(2, 0))
	assert.False(t, TraceID(0, 0).IsEmpty())
}

func TestErrorsAndSlow(t *testing.T) {
	spec := Spec{Traces: 100, SpansPerTrace: 5, ErrorEvery: 10, SlowEvery: 20}
	errs, slow := 0, 0
	for _, td := range Batches(spec) {
		for _, rs := range td.ResourceSpans().All() {
			_, ok := rs.Resource().Attributes().Get("service.name")
			require.True(t, ok)
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if sp.Status().Code() == ptrace.StatusCodeError {
						errs++
					}
					if sp.ParentSpanID().IsEmpty() && sp.EndTimestamp().AsTime().Sub(sp.StartTimestamp().AsTime()) >= spec.withDefaults().SlowDuration {
						slow++
					}
					assert.GreaterOrEqual(t, sp.EndTimestamp(), sp.StartTimestamp())
				}
			}
		}
	}
	assert.Equal(t, 10, errs)
	assert.Equal(t, 5, slow)
}

func TestSpanIDsDistinctAcrossSeeds(t *testing.T) {
	seen := map[pcommon.SpanID]string{}
	for seed := uint64(0); seed < 8; seed++ {
		for i := 0; i < 50; i++ {
			for j := 0; j < 10; j++ {
				id := SpanID(seed, i, j)
				where := fmt.Sprintf("seed=%d trace=%d span=%d", seed, i, j)
				prev, dup := seen[id]
				require.False(t, dup, "%s collides with %s", where, prev)
				seen[id] = where
			}
		}
	}
}

// TestSplit: every span lands in its owner's batch once, with its
// resource and scope.
func TestSplit(t *testing.T) {
	spec := Spec{Traces: 40, SpansPerTrace: 3, TracesPerBatch: 40, Layout: Interleaved}
	td := Batches(spec)[0]
	owner := func(id pcommon.TraceID) int { return int(id[15] % 3) }
	parts := Split(td, owner)
	total := 0
	for g, part := range parts {
		for _, rs := range part.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					assert.Equal(t, g, owner(sp.TraceID()))
					total++
				}
			}
		}
	}
	assert.Equal(t, td.SpanCount(), total)
	assert.Len(t, parts, 3)
}
