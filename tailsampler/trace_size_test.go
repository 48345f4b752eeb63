package tailsampler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// upstreamParts splits one input batch the way upstream's processor does
// before buffering: for each ResourceSpans and each trace in it, a new
// ResourceSpans with the resource and one ScopeSpans per run of that
// trace's spans in a scope. It is written from upstream's documented
// behaviour, independently of traceSize.
func upstreamParts(td ptrace.Traces, id pcommon.TraceID) []ptrace.ResourceSpans {
	var parts []ptrace.ResourceSpans
	for _, rs := range td.ResourceSpans().All() {
		var part ptrace.ResourceSpans
		has := false
		for _, ss := range rs.ScopeSpans().All() {
			var dst ptrace.ScopeSpans
			opened := false
			for _, sp := range ss.Spans().All() {
				if sp.TraceID() != id {
					continue
				}
				if !has {
					part = ptrace.NewResourceSpans()
					rs.Resource().CopyTo(part.Resource())
					part.SetSchemaUrl(rs.SchemaUrl())
					has = true
				}
				if !opened {
					dst = part.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(dst.Scope())
					dst.SetSchemaUrl(ss.SchemaUrl())
					opened = true
				}
				sp.CopyTo(dst.Spans().AppendEmpty())
			}
		}
		if has {
			parts = append(parts, part)
		}
	}
	return parts
}

// A trace's size is counted as upstream counts it: each batch's part as
// its own ResourceSpans with resource and scopes (maximum_trace_size_bytes
// compares the sum of those), and the whole as one Traces message
// (bytes_limiting charges that).
func TestTraceSizeMatchesUpstreamSplit(t *testing.T) {
	id := traceID(7)
	other := traceID(8)
	batch := func(seed int) ptrace.Traces {
		td := ptrace.NewTraces()
		for r := 0; r < 2; r++ {
			rs := td.ResourceSpans().AppendEmpty()
			rs.SetSchemaUrl("https://schema/1")
			rs.Resource().Attributes().PutStr("service.name", "svc")
			rs.Resource().Attributes().PutInt("r", int64(r+seed))
			for s := 0; s < 3; s++ {
				ss := rs.ScopeSpans().AppendEmpty()
				ss.Scope().SetName("lib")
				ss.Scope().SetVersion("1." + string(rune('0'+s)))
				for k := 0; k < 5; k++ {
					sp := ss.Spans().AppendEmpty()
					if (k+s+r+seed)%3 == 0 {
						sp.SetTraceID(other)
					} else {
						sp.SetTraceID(id)
					}
					sp.SetSpanID(pcommon.SpanID{byte(seed), byte(r), byte(s), byte(k + 1)})
					sp.SetName("operation-with-a-longer-name")
					sp.Attributes().PutInt("k", int64(k*1000+seed))
					sp.SetStartTimestamp(1_000_000)
					sp.SetEndTimestamp(2_000_000)
				}
			}
		}
		return td
	}
	var mu sync.Mutex
	var seen []int
	measure := func(policy.Settings, *confmap.Conf) (policy.Policy, error) {
		return policy.Func(func(_ context.Context, tr policy.Trace) (policy.Decision, error) {
			if tr.ID() == id {
				mu.Lock()
				seen = append(seen, tr.Bytes())
				mu.Unlock()
			}
			return policy.NotSampled, nil
		}), nil
	}
	b1, b2 := batch(1), batch(2)
	wantTraces := ptrace.NewTraces()
	wantParts := 0
	for _, td := range []ptrace.Traces{b1, b2} {
		for _, part := range upstreamParts(td, id) {
			var sizer ptrace.ProtoMarshaler
			wantParts += sizer.ResourceSpansSize(part)
			part.CopyTo(wantTraces.ResourceSpans().AppendEmpty())
		}
	}
	var sizer ptrace.ProtoMarshaler
	wantWhole := sizer.TracesSize(wantTraces)

	f := NewFactory(WithPolicyType("measure", measure))
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.DecisionWait = time.Hour
	cfg.NumShards = 1
	cfg.MaximumTraceSizeBytes = uint64(wantParts) // reached, not exceeded
	cfg.Policies = []PolicyCfg{{Name: "m", Type: "measure"}}
	p, err := f.CreateTraces(context.Background(), newNopSettings(), cfg, nopSink())
	require.NoError(t, err)
	s := p.(*sampler)
	require.NoError(t, s.ConsumeTraces(context.Background(), b1))
	require.NoError(t, s.ConsumeTraces(context.Background(), b2))
	sh := s.shards[0]
	sh.mu.Lock()
	idx, ok := sh.lookup(id)
	require.True(t, ok, "a trace of exactly maximum_trace_size_bytes is kept")
	assert.Equal(t, int64(wantParts), sh.entries[idx].bytes)
	sh.mu.Unlock()
	require.NoError(t, s.Shutdown(context.Background()))
	require.Equal(t, []int{wantWhole}, seen)
}
