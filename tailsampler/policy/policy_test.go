package policy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
	"github.com/tailgate-otel/tailgate/tailsampler/policy/policytest"
)

func TestDecision(t *testing.T) {
	tests := []struct {
		d       policy.Decision
		want    string
		samples bool
	}{
		{policy.Unspecified, "unspecified", false},
		{policy.NotSampled, "not_sampled", false},
		{policy.Sampled, "sampled", true},
		{policy.InvertSampled, "invert_sampled", true},
		{policy.InvertNotSampled, "invert_not_sampled", false},
		{policy.Dropped, "dropped", false},
		{policy.Decision(200), "unspecified", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.d.String())
		assert.Equal(t, tt.samples, tt.d.Samples(), tt.want)
	}
}

func TestFunc(t *testing.T) {
	boom := errors.New("boom")
	var seen pcommon.TraceID
	f := policy.Func(func(_ context.Context, tr policy.Trace) (policy.Decision, error) {
		seen = tr.ID()
		return policy.Dropped, boom
	})
	d, err := f.Evaluate(context.Background(), policytest.NewTrace(batch(span{name: "a"})))
	assert.Equal(t, policy.Dropped, d)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, traceID, seen)
}

var traceID = pcommon.TraceID{7}

// span describes one span of a test batch: each gets its own resource.
type span struct {
	name    string
	service string
}

func batch(spans ...span) ptrace.Traces {
	td := ptrace.NewTraces()
	for i, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		if s.service != "" {
			rs.Resource().Attributes().PutStr("service.name", s.service)
		}
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(traceID)
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		sp.SetName(s.name)
	}
	return td
}

// recorder matches resources with a service and spans with a name, and
// records what it was asked, in order.
type recorder struct {
	service, span string
	asked         []string
}

func (r *recorder) MatchResource(res pcommon.Resource) bool {
	v, _ := res.Attributes().Get("service.name")
	r.asked = append(r.asked, "resource "+v.Str())
	return r.service != "" && v.Str() == r.service
}

func (r *recorder) MatchSpan(sp ptrace.Span) bool {
	r.asked = append(r.asked, "span "+sp.Name())
	return r.span != "" && sp.Name() == r.span
}

func TestAnyMatch(t *testing.T) {
	td := batch(span{name: "a", service: "web"}, span{name: "b", service: "db"}, span{name: "c", service: "db"})
	// Two spans sharing one resource: the resource is asked once.
	shared := batch(span{name: "a", service: "web"})
	sp := shared.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
	sp.SetTraceID(traceID)
	sp.SetName("a2")
	tests := []struct {
		name      string
		td        ptrace.Traces
		m         recorder
		want      bool
		wantAsked []string
	}{
		{"no match visits everything, each resource before its spans", td, recorder{},
			false, []string{"resource web", "span a", "resource db", "span b", "resource db", "span c"}},
		{"span match stops the scan", td, recorder{span: "b"},
			true, []string{"resource web", "span a", "resource db", "span b"}},
		{"resource match stops before its spans", td, recorder{service: "db"},
			true, []string{"resource web", "span a", "resource db"}},
		{"a resource shared by spans is asked once", shared, recorder{},
			false, []string{"resource web", "span a", "span a2"}},
		{"empty trace", ptrace.NewTraces(), recorder{span: "a"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			assert.Equal(t, tt.want, policy.AnyMatch(policytest.NewTrace(tt.td), &m))
			assert.Equal(t, tt.wantAsked, m.asked)
		})
	}
}

// spanName is a Matcher with no state per call: AnyMatch must not
// allocate for it.
type spanName struct {
	policy.SpansOnly
	name string
}

func (m *spanName) MatchSpan(sp ptrace.Span) bool { return sp.Name() == m.name }

func TestAnyMatchAllocatesNothing(t *testing.T) {
	tr := policytest.NewTrace(batch(span{name: "a"}, span{name: "b"}, span{name: "c"}))
	m := &spanName{name: "c"}
	require.True(t, policy.AnyMatch(tr, m))
	allocs := testing.AllocsPerRun(100, func() { policy.AnyMatch(tr, m) })
	assert.Zero(t, allocs)
}

func TestSpansOnly(t *testing.T) {
	assert.False(t, policy.SpansOnly{}.MatchResource(pcommon.NewResource()))
}

// FuzzAnyMatch scans arbitrary pdata (OTLP protobuf): AnyMatch never
// panics and finds a span name exactly when some span has it.
func FuzzAnyMatch(f *testing.F) {
	var m ptrace.ProtoMarshaler
	for _, td := range []ptrace.Traces{batch(span{name: "x", service: "s"}, span{name: "y"}), ptrace.NewTraces()} {
		b, err := m.MarshalTraces(td)
		require.NoError(f, err)
		f.Add(b, "y")
	}
	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		td, err := u.UnmarshalTraces(data)
		if err != nil {
			return
		}
		want := false
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					want = want || sp.Name() == name
				}
			}
		}
		assert.Equal(t, want, policy.AnyMatch(policytest.NewTrace(td), &spanName{name: name}))
	})
}
