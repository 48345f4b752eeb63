package policies

import (
	"context"
	"sync"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspanevent"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// ottlPolicy samples a trace when any span satisfies any `span` condition
// or any span event satisfies any `spanevent` condition. With error_mode
// propagate (the default, as upstream) the first evaluation error ends the
// scan and is returned, which the evaluator counts in
// sampling_policy_evaluation_error; ignore logs and goes on; silent goes
// on without logging.
type ottlPolicy struct {
	spans  *ottl.ConditionSequence[*ottlspan.TransformContext]
	events *ottl.ConditionSequence[*ottlspanevent.TransformContext]
}

func newOTTLConditionPolicy(set policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg OTTLConditionCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	set = normalizeSettings(set)
	var errs []error
	mode := ottl.PropagateError
	if cfg.ErrorMode != "" {
		if err := mode.UnmarshalText([]byte(cfg.ErrorMode)); err != nil {
			errs = append(errs, keyError("error_mode", "must be one of ignore, propagate, silent, got %q", cfg.ErrorMode))
		}
	}
	if len(cfg.SpanConditions) == 0 && len(cfg.SpanEventConditions) == 0 {
		errs = append(errs, keyError("span", "at least one span or spanevent condition is required"))
	}
	p := &ottlPolicy{}
	if len(cfg.SpanConditions) > 0 {
		parser, err := ottlspan.NewParser(ottlfuncs.StandardConverters[*ottlspan.TransformContext](), set.Telemetry)
		if err != nil {
			errs = append(errs, keyError("span", "%v", err))
		} else if conds, err := parser.ParseConditions(cfg.SpanConditions); err != nil {
			errs = append(errs, keyError("span", "%v", err))
		} else {
			seq := ottlspan.NewConditionSequence(conds, set.Telemetry, ottlspan.WithConditionSequenceErrorMode(mode))
			p.spans = &seq
		}
	}
	if len(cfg.SpanEventConditions) > 0 {
		parser, err := ottlspanevent.NewParser(ottlfuncs.StandardConverters[*ottlspanevent.TransformContext](), set.Telemetry)
		if err != nil {
			errs = append(errs, keyError("spanevent", "%v", err))
		} else if conds, err := parser.ParseConditions(cfg.SpanEventConditions); err != nil {
			errs = append(errs, keyError("spanevent", "%v", err))
		} else {
			seq := ottlspanevent.NewConditionSequence(conds, set.Telemetry, ottlspanevent.WithConditionSequenceErrorMode(mode))
			p.events = &seq
		}
	}
	if err := joinErrs(errs); err != nil {
		return nil, err
	}
	return p, nil
}

// ottlScan is the pooled state of one evaluation (see anyScan for why).
type ottlScan struct {
	p       *ottlPolicy
	ctx     context.Context
	matched bool
	err     error
	fn      func(ptrace.ResourceSpans, ptrace.ScopeSpans, ptrace.Span) bool
}

var ottlScanPool = sync.Pool{New: func() any {
	s := &ottlScan{}
	s.fn = s.visit
	return s
}}

func (s *ottlScan) visit(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) bool {
	if s.p.spans != nil {
		tc := ottlspan.NewTransformContext(rs, ss, span)
		ok, err := s.p.spans.Eval(s.ctx, tc)
		tc.Close()
		if err != nil {
			s.err = err
			return false
		}
		if ok {
			s.matched = true
			return false
		}
	}
	if s.p.events != nil {
		events := span.Events()
		for i := 0; i < events.Len(); i++ {
			tc := ottlspanevent.NewTransformContext(rs, ss, span, events.At(i))
			ok, err := s.p.events.Eval(s.ctx, tc)
			tc.Close()
			if err != nil {
				s.err = err
				return false
			}
			if ok {
				s.matched = true
				return false
			}
		}
	}
	return true
}

func (p *ottlPolicy) Evaluate(ctx context.Context, t policy.Trace) (policy.Decision, error) {
	s := ottlScanPool.Get().(*ottlScan)
	s.p, s.ctx = p, ctx
	t.Spans(s.fn)
	matched, err := s.matched, s.err
	*s = ottlScan{fn: s.fn}
	ottlScanPool.Put(s)
	if err != nil {
		return policy.Unspecified, err
	}
	return boolDecision(matched), nil
}
