package tailsampler

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Per-policy instruments, named as upstream's.
const (
	mCountTracesSampled      = "otelcol_processor_tail_sampling_count_traces_sampled"
	mPolicyEvaluationError   = "otelcol_processor_tail_sampling_sampling_policy_evaluation_error"
	mSamplingDecisionLatency = "otelcol_processor_tail_sampling_sampling_decision_latency"
)

// policySet is the configured top-level policy list and the evaluator that
// combines its verdicts. It is safe for concurrent use if its policies are.
type policySet struct {
	drops              []*policyEntry // top-level drop policies, consulted first
	others             []*policyEntry // every other policy, in configured order
	sampleOnFirstMatch bool
	now                func() time.Time
	slots              int // number of policyEntry slots (see policyTally)

	countSampled metric.Int64Counter
	evalErrors   metric.Int64Counter
	latency      metric.Int64Histogram
}

// policyEntry carries one policy and its metric attribute sets, built once
// so recording a measurement allocates nothing.
type policyEntry struct {
	name       string
	slot       int // index into policyTally's counts
	p          Policy
	optSampled []metric.AddOption // policy=name, sampled=true
	optNot     []metric.AddOption // policy=name, sampled=false
	optPolicy  []metric.AddOption
	optLatency []metric.RecordOption
	// threshold is upstream's OpenTelemetry sampling threshold of the
	// policy (0 unless probabilistic, or an and holding one): among the
	// policies that sample a trace, the one with the smallest threshold
	// names the decision.
	threshold uint64
	stateful  bool
}

// newPolicySet builds every policy of cfgs from reg (built-in and custom
// types). Validation errors have the same text as validatePolicies.
func newPolicySet(cfgs []PolicyCfg, reg map[string]PolicyFactory, set PolicySettings, sampleOnFirstMatch bool) (*policySet, error) {
	if err := validatePolicies(cfgs, reg); err != nil {
		return nil, err
	}
	set = normalizeSettings(set)
	reg = bindRegistry(reg)
	m := set.Telemetry.MeterProvider.Meter(scopeName)
	ps := &policySet{sampleOnFirstMatch: sampleOnFirstMatch, now: time.Now}
	var errs, err error
	ps.countSampled, err = m.Int64Counter(mCountTracesSampled, metric.WithUnit("{traces}"),
		metric.WithDescription("Count of traces that were sampled or not per sampling policy."))
	errs = errors.Join(errs, err)
	ps.evalErrors, err = m.Int64Counter(mPolicyEvaluationError, metric.WithUnit("{errors}"),
		metric.WithDescription("Count of sampling policy evaluation errors."))
	errs = errors.Join(errs, err)
	ps.latency, err = m.Int64Histogram(mSamplingDecisionLatency, metric.WithUnit("µs"),
		metric.WithDescription("Latency (in microseconds) of a given sampling policy."),
		metric.WithExplicitBucketBoundaries(1, 2, 5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 50000))
	errs = errors.Join(errs, err)
	if errs != nil {
		return nil, errs
	}
	for i := range cfgs {
		c := &cfgs[i]
		p, err := buildPolicy(c, label("policies", i, c.Name), reg, set)
		if err != nil {
			return nil, err
		}
		pol := attribute.String("policy", c.Name)
		e := &policyEntry{
			name:       c.Name,
			slot:       i,
			p:          p,
			optSampled: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(pol, attribute.Bool("sampled", true)))},
			optNot:     []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(pol, attribute.Bool("sampled", false)))},
			optPolicy:  []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(pol))},
			optLatency: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(pol))},
			threshold:  thresholdOf(p),
			stateful:   isStateful(p),
		}
		ps.slots++
		if c.Type == typeDrop {
			ps.drops = append(ps.drops, e)
		} else {
			ps.others = append(ps.others, e)
		}
	}
	return ps, nil
}

// Decide evaluates t and returns the final decision (Sampled, NotSampled or
// Dropped) and the name of the policy that decided it ("" when no policy
// did, e.g. nothing matched).
//
// Order and precedence, as upstream:
//  1. drop policies, in configured order: the first Dropped ends it;
//  2. every other policy, in configured order (with sample_on_first_match,
//     until the first Sampled; a Dropped also ends it);
//  3. any Dropped → Dropped; else any InvertNotSampled → NotSampled; else
//     any Sampled → Sampled; else any InvertSampled and no NotSampled vote
//     → Sampled; else NotSampled. (Only custom policies return the
//     deprecated inverted verdicts.)
//
// A sampled trace is named after the sampling policy with the smallest
// sampling threshold, the first of them on a tie: a probabilistic policy
// (threshold from its percentage) yields to a later filter policy
// (threshold 0), as upstream does since it reports thresholds.
//
// A policy that returns an error is counted in
// sampling_policy_evaluation_error and has no vote.
func (ps *policySet) Decide(ctx context.Context, t Trace) (Decision, string) {
	return ps.decide(ctx, t, nil)
}

// stateful names the top-level policies that are stateful (see
// StatefulPolicy), in configured order.
func (ps *policySet) stateful() []string {
	var names []string
	for _, group := range [2][]*policyEntry{ps.drops, ps.others} {
		for _, e := range group {
			if e.stateful {
				names = append(names, e.name)
			}
		}
	}
	return names
}

// policyTally accumulates per-policy counts over many decisions, so a
// decision round adds to count_traces_sampled and
// sampling_policy_evaluation_error once per policy and outcome instead of
// once per trace and policy (with the SDK, each Add locks and looks up an
// attribute set; five per trace doubled the cost of a P2 decision).
// Its zero value is ready; it is not safe for concurrent use.
type policyTally struct {
	sampled, not, errs []int64 // by policyEntry.slot
	dirty              bool
}

// flush adds the accumulated counts to the instruments and resets them.
func (ps *policySet) flush(ctx context.Context, t *policyTally) {
	if !t.dirty {
		return
	}
	for _, group := range [2][]*policyEntry{ps.drops, ps.others} {
		for _, e := range group {
			if n := t.sampled[e.slot]; n > 0 {
				ps.countSampled.Add(ctx, n, e.optSampled...)
			}
			if n := t.not[e.slot]; n > 0 {
				ps.countSampled.Add(ctx, n, e.optNot...)
			}
			if n := t.errs[e.slot]; n > 0 {
				ps.evalErrors.Add(ctx, n, e.optPolicy...)
			}
		}
	}
	clear(t.sampled)
	clear(t.not)
	clear(t.errs)
	t.dirty = false
}

// decide is Decide that counts into tally (flushed by the caller) when it
// is not nil, and records each count at once when it is.
func (ps *policySet) decide(ctx context.Context, t Trace, tally *policyTally) (Decision, string) {
	if tally != nil && len(tally.sampled) != ps.slots {
		tally.sampled = make([]int64, ps.slots)
		tally.not = make([]int64, ps.slots)
		tally.errs = make([]int64, ps.slots)
	}
	// Reading the clock around every policy cost ~20% of a P2 decision on
	// our 2-core VM, so latency is measured on 1 trace in 8, chosen by the
	// trace ID's last byte: no shared counter, spread like the IDs are.
	var start time.Time
	timed := t.ID()[15]&latencySampleMask == 0
	if timed {
		start = ps.now()
	}
	for _, e := range ps.drops {
		var d Decision
		d, start = ps.eval(ctx, e, t, timed, start, tally)
		if d == Dropped {
			return Dropped, e.name
		}
	}
	var sampled, firstInvertSampled, firstInvertNot *policyEntry
	notSampled := false
	for _, e := range ps.others {
		var d Decision
		d, start = ps.eval(ctx, e, t, timed, start, tally)
		switch d {
		case Dropped:
			// A custom (or nested) policy may veto like a drop policy does.
			return Dropped, e.name
		case Sampled:
			if sampled == nil || e.threshold < sampled.threshold {
				sampled = e
			}
		case InvertSampled:
			if firstInvertSampled == nil {
				firstInvertSampled = e
			}
		case InvertNotSampled:
			if firstInvertNot == nil {
				firstInvertNot = e
			}
		case NotSampled:
			notSampled = true
		case Unspecified, errorVote:
		}
		if ps.sampleOnFirstMatch && d == Sampled {
			break
		}
	}
	switch {
	case firstInvertNot != nil:
		return NotSampled, ""
	case sampled != nil:
		return Sampled, sampled.name
	case firstInvertSampled != nil && !notSampled:
		return Sampled, firstInvertSampled.name
	}
	return NotSampled, ""
}

// latencySampleMask selects the traces whose decision latency is measured:
// those whose trace ID's last byte has these bits clear (1 in 8).
const latencySampleMask = 0x07

// errorVote marks an evaluation that failed; it is never returned to the
// caller of Decide.
const errorVote Decision = 255

// eval runs one policy and records its metrics. Latency is measured from
// the end of the previous policy's evaluation, so each policy costs one
// clock read instead of two.
func (ps *policySet) eval(ctx context.Context, e *policyEntry, t Trace, timed bool, start time.Time, tally *policyTally) (Decision, time.Time) {
	d, err := e.p.Evaluate(ctx, t)
	end := start
	if timed {
		end = ps.now()
		ps.latency.Record(ctx, end.Sub(start).Microseconds(), e.optLatency...)
	}
	sampled := d == Sampled || d == InvertSampled
	if tally != nil {
		tally.dirty = true
		switch {
		case err != nil:
			tally.errs[e.slot]++
		case sampled:
			tally.sampled[e.slot]++
		default:
			tally.not[e.slot]++
		}
	} else {
		switch {
		case err != nil:
			ps.evalErrors.Add(ctx, 1, e.optPolicy...)
		case sampled:
			ps.countSampled.Add(ctx, 1, e.optSampled...)
		default:
			ps.countSampled.Add(ctx, 1, e.optNot...)
		}
	}
	if err != nil {
		return errorVote, end
	}
	return d, end
}

// thresholdReporter is implemented by built-in policies whose upstream
// counterpart reports an OpenTelemetry sampling threshold.
type thresholdReporter interface {
	samplingThreshold() uint64
}

// thresholdOf is p's sampling threshold: 0 (always sample) for every
// policy that does not report one, as upstream treats them.
func thresholdOf(p Policy) uint64 {
	if r, ok := p.(thresholdReporter); ok {
		return r.samplingThreshold()
	}
	return 0
}
