package tailsampler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/metadata"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/failovermark"
)

// An agent whose load_balancing failover found B unhealthy sends B's
// traces to their next ring choice, A, marked. A keeps them (decides them
// itself, in one piece) instead of forwarding them back to B; the same
// spans unmarked, from an agent with a stale view, go to B.
func TestHandoffKeepsFailedOverSpans(t *testing.T) {
	two := []string{gwA, gwB}
	r := hashring.New(two)
	ofB := func(td ptrace.Traces) ptrace.Traces {
		out := ptrace.NewTraces()
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if id := sp.TraceID(); r.Get(id[:]) == gwB {
						sp.CopyTo(out.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
					}
				}
			}
		}
		return out
	}
	for _, marked := range []bool{true, false} {
		name := "unmarked: forwarded to the owner"
		if marked {
			name = "marked: kept where the agent sent it"
		}
		t.Run(name, func(t *testing.T) {
			f := newFleet(t)
			a := f.start(gwA, two)
			b := f.start(gwB, two)
			// Past the start-up ring change and its settle sweep, which
			// would hand pending traces to their owner whatever the mark.
			require.Eventually(t, func() bool {
				return a.counter(t, metricHandoff+"ring_changes") > 0 && b.counter(t, metricHandoff+"ring_changes") > 0
			}, 5*time.Second, 5*time.Millisecond)
			time.Sleep(400 * time.Millisecond)
			seed := uint64(61)
			if marked {
				seed = 62
			}
			spec, batches := workloadBatches(seed, 200, 3)
			traces := 0
			for _, td := range batches {
				part := ofB(td)
				traces = part.SpanCount()
				ctx := context.Background()
				if marked {
					ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(failovermark.Header, "1"))
				}
				require.NoError(t, a.p.ConsumeTraces(ctx, part))
			}
			require.Positive(t, traces)
			keeper, other := b, a
			if marked {
				keeper, other = a, b
			}
			if !assert.Eventually(t, func() bool { return keeper.p.decided.Load() == int64(traces) && pendingOf(a, b) == 0 },
				15*time.Second, 10*time.Millisecond) {
				t.Fatalf("decided %d (A) + %d (B) of %d, pending %d", a.p.decided.Load(), b.p.decided.Load(), traces, pendingOf(a, b))
			}
			assert.Zero(t, other.p.decided.Load())
			forwarded := a.counter(t, metricHandoff+"spans_forwarded")
			if marked {
				assert.Zero(t, forwarded, "nothing bounced back to the owner the agent failed over from")
			} else {
				assert.EqualValues(t, traces*spec.SpansPerTrace, forwarded)
			}
		})
	}
}
