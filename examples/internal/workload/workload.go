// Package workload plays the demo's traffic against a set of agents and
// scores what reached the backend.
//
// Play sends a tracegen workload in the Interleaved layout: every trace's
// spans leave one at a time, SpanGap apart, and span j goes to agent
// j mod len(agents). With two agents and ten spans 333 ms apart, a trace is
// spread over three seconds and no agent ever sees it whole, which is what
// makes routing by trace ID necessary. Score compares the backend's view of
// each trace with what was sent.
package workload

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// Plan is one run of traffic.
type Plan struct {
	Rate          int           // traces started per second
	Duration      time.Duration // how long traces keep starting
	SpansPerTrace int           // default 10
	SpanGap       time.Duration // between a trace's consecutive spans (default 333ms)
	ErrorEvery    int           // every Nth trace has an ERROR span (default 50: 2 %)
	SlowEvery     int           // every Nth trace lasts 2 s (0: none)
	Seed          uint64        // makes the trace IDs of this run its own
	// KeepGoing makes Play behave like an application: a failed export is
	// counted (Sent.Failed) and the traffic goes on, instead of Play
	// returning at once.
	KeepGoing bool
	// CallTimeout bounds one export call, as an SDK exporter's timeout
	// does (default 10 s).
	CallTimeout time.Duration
}

const tick = 100 * time.Millisecond

func (p Plan) withDefaults() Plan {
	if p.Rate <= 0 {
		p.Rate = 100
	}
	if p.Duration <= 0 {
		p.Duration = 5 * time.Second
	}
	if p.SpansPerTrace <= 0 {
		p.SpansPerTrace = 10
	}
	if p.SpanGap <= 0 {
		p.SpanGap = 333 * time.Millisecond
	}
	if p.ErrorEvery == 0 {
		p.ErrorEvery = 50
	}
	if p.CallTimeout <= 0 {
		p.CallTimeout = 10 * time.Second
	}
	return p
}

// Spec is the tracegen workload the plan sends, starting at start.
func (p Plan) Spec(start time.Time) tracegen.Spec {
	p = p.withDefaults()
	perTick := max(1, p.Rate*int(tick)/int(time.Second))
	ticks := max(1, int(p.Duration/tick))
	return tracegen.Spec{
		Traces:         perTick * ticks,
		SpansPerTrace:  p.SpansPerTrace,
		TracesPerBatch: perTick,
		Layout:         tracegen.Interleaved,
		ErrorEvery:     p.ErrorEvery,
		SlowEvery:      p.SlowEvery,
		Seed:           p.Seed,
		Start:          start,
	}
}

// Sent describes what Play sent, and what the application saw doing it.
type Sent struct {
	Spec  tracegen.Spec
	Spans int       // spans exported successfully
	Last  time.Time // when the last span left
	// Failed is the number of spans in export calls that failed (only with
	// KeepGoing; otherwise Play returns the first failure).
	Failed int
	// Log is every export call, in the order made.
	Log []Call
}

// Calls is the number of export calls.
func (s Sent) Calls() int { return len(s.Log) }

// Slowest is the longest export call.
func (s Sent) Slowest() time.Duration {
	var d time.Duration
	for _, c := range s.Log {
		d = max(d, c.Took)
	}
	return d
}

// Call is one export call as the application saw it.
type Call struct {
	At    time.Time
	Took  time.Duration
	Spans int
	Err   error
}

// SlowestBetween is the longest export call that started in [from, to).
func (s Sent) SlowestBetween(from, to time.Time) time.Duration {
	var d time.Duration
	for _, c := range s.Log {
		if !c.At.Before(from) && c.At.Before(to) {
			d = max(d, c.Took)
		}
	}
	return d
}

// Play sends the plan's workload to agents (OTLP/gRPC host:port) in real
// time. progress, if not nil, is called after each batch with the spans sent
// so far and the total. A failed export is returned at once: the examples
// treat a refused span as a broken setup, not as traffic to score.
func Play(ctx context.Context, snd *wire.Sender, p Plan, agents []string, progress func(sent, total int)) (Sent, error) {
	if len(agents) == 0 {
		return Sent{}, fmt.Errorf("workload: no agent to send to")
	}
	p = p.withDefaults()
	start := time.Now()
	spec := p.Spec(start)
	batches := tracegen.Batches(spec)
	total := tracegen.SpanCount(batches)

	// Batch k is span j (= k mod SpansPerTrace) of group g (= k / SpansPerTrace).
	type event struct {
		at    time.Time
		agent string
		td    ptrace.Traces
	}
	events := make([]event, 0, len(batches))
	for k, td := range batches {
		g, j := k/p.SpansPerTrace, k%p.SpansPerTrace
		events = append(events, event{start.Add(time.Duration(g)*tick + time.Duration(j)*p.SpanGap), agents[j%len(agents)], td})
	}
	// Order by departure time; stable, so equal times keep batch order.
	slices.SortStableFunc(events, func(a, b event) int { return a.at.Compare(b.at) })

	out := Sent{Spec: spec}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for _, ev := range events {
		if d := time.Until(ev.at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				out.Last = time.Now()
				return out, ctx.Err()
			case <-timer.C:
			}
		}
		n := ev.td.SpanCount()
		cctx, cancel := context.WithTimeout(ctx, p.CallTimeout)
		began := time.Now()
		err := snd.Send(cctx, ev.agent, ev.td)
		took := time.Since(began)
		cancel()
		out.Log = append(out.Log, Call{At: began, Took: took, Spans: n, Err: err})
		switch {
		case err == nil:
			out.Spans += n
		case p.KeepGoing && ctx.Err() == nil:
			out.Failed += n
		default:
			out.Last = time.Now()
			return out, err
		}
		if progress != nil {
			progress(out.Spans+out.Failed, total)
		}
	}
	out.Last = time.Now()
	return out, nil
}
