package tailsampler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/internal/upstreamring"
)

// TestMixedAgentRollout measures a migration of the agent tier from the
// contrib load-balancing exporter to load_balancing, the figures of
// MIGRATING.md. The two exporters hash trace IDs onto different rings, so
// while some agents run one and some the other, the spans of a trace that
// passes both kinds of agent reach two gateways. Four agents, three
// gateways; span j of trace i passes agent (i+j) mod 4, so every trace
// crosses every agent (the worst case: a trace that stays on one node's
// agent is never split). Agents 0 … upstreamAgents-1 route by contrib's
// ring (internal/upstreamring), the others by hashring. The gateways keep
// error traces (status_code ERROR); one span of every 10th trace is an
// error. decision_wait is rolloutDecisionWait: the agents must deliver a
// trace's spans within it, which takes seconds under -race on a loaded
// machine (a trace decided before its last spans arrive is not what this
// test measures).
//
// Every figure is also computed from the two rings, and the test asserts
// that the gateways produced exactly that: without handoff an error trace
// arrives whole only when all its spans reached one gateway; with handoff
// every error trace arrives whole and the spans forwarded are exactly those
// that reached a gateway which does not own their trace on tailgate's ring.
const rolloutDecisionWait = 8 * time.Second

func TestMixedAgentRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("real gateways and decision_wait: seconds per stage")
	}
	const agents = 4
	endpoints := []string{gwA, gwB, gwC}
	ours, theirs := hashring.New(endpoints), upstreamring.New(endpoints)

	stages := []struct {
		name           string
		upstreamAgents int
		handoff        bool
	}{
		{"before", agents, false},
		{"1 gateways with handoff", agents, true},
		{"2 agents rolling (half done)", agents / 2, true},
		{"3 after", 0, true},
		{"the wrong order: agents first", agents / 2, false},
	}
	var report []string
	for si, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			spec := tracegen.Spec{
				Traces: 1000, SpansPerTrace: 10, TracesPerBatch: 1000, Layout: tracegen.Interleaved,
				ErrorEvery: 10, Seed: 9000 + uint64(si),
			}
			batches := tracegen.Batches(spec)
			agentOf := make(map[pcommon.SpanID]int, spec.Traces*spec.SpansPerTrace)
			for i := range spec.Traces {
				for j := range spec.SpansPerTrace {
					agentOf[tracegen.SpanID(spec.Seed, i, j)] = (i + j) % agents
				}
			}
			route := func(agent int, id pcommon.TraceID) string {
				if agent < st.upstreamAgents {
					return theirs.Get(id[:])
				}
				return ours.Get(id[:])
			}
			gws := startRolloutGateways(t, endpoints, st.handoff)

			// Deliver as the agents would, and work out what must happen.
			exp := newRolloutExpectation()
			began := time.Now()
			for _, td := range batches {
				parts := map[string]ptrace.Traces{}
				for _, rs := range td.ResourceSpans().All() {
					for _, ss := range rs.ScopeSpans().All() {
						for _, sp := range ss.Spans().All() {
							id := sp.TraceID()
							ep := route(agentOf[sp.SpanID()], id)
							exp.add(id, ep, sp.Status().Code() == ptrace.StatusCodeError, ours.Get(id[:]))
							appendSpan(parts, ep, rs, ss, sp)
						}
					}
				}
				for ep, part := range parts {
					require.NoError(t, gws[ep].next.ConsumeTraces(context.Background(), part))
				}
			}

			require.Less(t, time.Since(began), rolloutDecisionWait*3/4, "the agents took too long to deliver the traces: the figures would measure early decisions")
			for _, g := range gws {
				if g.decide != nil {
					g.decide()
				}
			}
			wantKept := exp.keptSpans(st.handoff, spec.SpansPerTrace)
			keptSoFar := func() int {
				n := 0
				for _, g := range gws {
					n += g.sink.SpanCount()
				}
				return n
			}
			if !assert.Eventually(t, func() bool { return keptSoFar() >= wantKept }, rolloutDecisionWait+30*time.Second, 10*time.Millisecond) {
				for ep, g := range gws {
					t.Logf("%s: kept %d spans, forwarded %d, failures %d, traces received %d, pending %d",
						ep, g.sink.SpanCount(), g.counter(t, metricHandoff+"spans_forwarded"), g.counter(t, metricHandoff+"failures"),
						g.counter(t, metricHandoff+"traces_received"), g.pending())
				}
				t.Fatalf("kept %d of %d spans", keptSoFar(), wantKept)
			}
			time.Sleep(200 * time.Millisecond) // nothing more may arrive

			got := map[pcommon.SpanID]int{}
			perTrace := map[pcommon.TraceID]int{}
			for _, g := range gws {
				for _, td := range g.sink.AllTraces() {
					for _, rs := range td.ResourceSpans().All() {
						for _, ss := range rs.ScopeSpans().All() {
							for _, sp := range ss.Spans().All() {
								got[sp.SpanID()]++
								perTrace[sp.TraceID()]++
							}
						}
					}
				}
			}
			whole := 0
			for id := range exp.errAt {
				if perTrace[id] == spec.SpansPerTrace {
					whole++
				}
			}
			for sid, n := range got {
				require.Equal(t, 1, n, "span %v reached the backend %d times", sid, n)
			}
			assert.Equal(t, wantKept, len(got), "spans kept")
			var forwarded, failures int64
			for _, g := range gws {
				forwarded += g.counter(t, metricHandoff+"spans_forwarded")
				failures += g.counter(t, metricHandoff+"failures")
			}
			if st.handoff {
				assert.Equal(t, len(exp.errAt), whole, "with handoff every error trace arrives whole")
				assert.Equal(t, exp.misrouted, forwarded, "forwarded: exactly the spans that reached a gateway not owning their trace")
				assert.Zero(t, failures)
			} else {
				assert.Equal(t, exp.wholeWithoutHandoff(), whole, "without handoff: whole when every span reached one gateway")
				assert.Zero(t, forwarded)
			}
			spans := spec.Traces * spec.SpansPerTrace
			gwKind := "without handoff"
			if st.handoff {
				gwKind = "with handoff"
			}
			report = append(report, fmt.Sprintf("| %s | %d of %d | %s | %d of %d | %d of %d (%.1f %%) | %d | %d |",
				st.name, st.upstreamAgents, agents, gwKind, whole, len(exp.errAt), forwarded, spans,
				100*float64(forwarded)/float64(spans), exp.misrouted, failures))
		})
	}
	t.Log("\n| step | agents on contrib's ring | gateways | error traces whole | spans forwarded between gateways | spans that reached a non-owner | handoff failures |\n|---|---|---|---|---|---|---|\n" +
		strings.Join(report, "\n"))
}

// rolloutGateway is one gateway of TestMixedAgentRollout, with or without
// the handoff block.
type rolloutGateway struct {
	next    consumer.Traces
	sink    *consumertest.TracesSink
	counter func(*testing.T, string) int64
	decide  func() // moves a fake clock past decision_wait; nil on real time
	pending func() int64
}

func startRolloutGateways(t *testing.T, endpoints []string, withHandoff bool) map[string]*rolloutGateway {
	errorsOnly := func(cfg *Config) {
		cfg.Policies = []PolicyCfg{{Name: "errors", Type: "status_code", StatusCode: StatusCodeCfg{StatusCodes: []string{"ERROR"}}}}
		cfg.DecisionWait = rolloutDecisionWait
	}
	gws := map[string]*rolloutGateway{}
	if withHandoff {
		f := newFleet(t)
		for _, ep := range endpoints {
			g := f.startWith(ep, endpoints, errorsOnly)
			gws[ep] = &rolloutGateway{next: g.p, sink: g.sink, counter: g.counter, pending: g.p.pendingTotal}
		}
		return gws
	}
	for _, ep := range endpoints {
		h := newHarness(t, errorsOnly)
		gws[ep] = &rolloutGateway{
			next: h.p, sink: h.sink,
			counter: func(t *testing.T, name string) int64 { return total(h.metrics(t), name) },
			decide:  func() { h.advance(t, rolloutDecisionWait+time.Second) },
			pending: h.p.pendingTotal,
		}
	}
	return gws
}

// rolloutExpectation is what the rings say must happen to a workload.
type rolloutExpectation struct {
	at        map[pcommon.TraceID]map[string]int // spans of a trace per gateway they reached
	errAt     map[pcommon.TraceID]string         // error traces: the gateway their error span reached
	misrouted int64                              // spans that reached a gateway not owning their trace on hashring
}

func newRolloutExpectation() *rolloutExpectation {
	return &rolloutExpectation{at: map[pcommon.TraceID]map[string]int{}, errAt: map[pcommon.TraceID]string{}}
}

// add records that a span of trace id reached gateway ep, whose owner on
// hashring is owner.
func (e *rolloutExpectation) add(id pcommon.TraceID, ep string, isError bool, owner string) {
	if e.at[id] == nil {
		e.at[id] = map[string]int{}
	}
	e.at[id][ep]++
	if isError {
		e.errAt[id] = ep
	}
	if ep != owner {
		e.misrouted++
	}
}

// keptSpans is how many spans reach the backend: with handoff every span
// of an error trace; without, the fragment that holds the error span.
func (e *rolloutExpectation) keptSpans(handoff bool, spansPerTrace int) int {
	n := 0
	for id, ep := range e.errAt {
		if handoff {
			n += spansPerTrace
		} else {
			n += e.at[id][ep]
		}
	}
	return n
}

// wholeWithoutHandoff is how many error traces reached a single gateway.
func (e *rolloutExpectation) wholeWithoutHandoff() int {
	n := 0
	for id := range e.errAt {
		if len(e.at[id]) == 1 {
			n++
		}
	}
	return n
}

// appendSpan copies sp, with its resource and scope, into the part of
// parts bound for ep.
func appendSpan(parts map[string]ptrace.Traces, ep string, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, sp ptrace.Span) {
	part, ok := parts[ep]
	if !ok {
		part = ptrace.NewTraces()
		parts[ep] = part
	}
	drs := part.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(drs.Resource())
	dss := drs.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(dss.Scope())
	sp.CopyTo(dss.Spans().AppendEmpty())
}
