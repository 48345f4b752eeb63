package policies

import (
	"context"
	"errors"
	"fmt"
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
	// Bounded before the parser sees them: its time grows steeply with
	// nesting (1000 nested parentheses take seconds, 3000 over a minute).
	spanErrs, eventErrs := checkOTTLConditions("span", cfg.SpanConditions), checkOTTLConditions("spanevent", cfg.SpanEventConditions)
	errs = append(append(errs, spanErrs...), eventErrs...)
	if len(spanErrs)+len(eventErrs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &ottlPolicy{}
	if len(cfg.SpanConditions) > 0 {
		parser, err := ottlspan.NewParser(ottlfuncs.StandardConverters[*ottlspan.TransformContext](), set.Telemetry)
		if p.spans, err = conditionSequence("span", parser, err, cfg.SpanConditions, set, mode); err != nil {
			errs = append(errs, err)
		}
	}
	if len(cfg.SpanEventConditions) > 0 {
		parser, err := ottlspanevent.NewParser(ottlfuncs.StandardConverters[*ottlspanevent.TransformContext](), set.Telemetry)
		if p.events, err = conditionSequence("spanevent", parser, err, cfg.SpanEventConditions, set, mode); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// conditionSequence parses the conditions under key with parser (parserErr
// is the error of building it) into a sequence with the given error mode.
func conditionSequence[K any](key string, parser ottl.Parser[K], parserErr error, conds []string, set policy.Settings, mode ottl.ErrorMode) (*ottl.ConditionSequence[K], error) {
	if parserErr != nil {
		return nil, keyError(key, "%v", parserErr)
	}
	parsed, err := parser.ParseConditions(conds)
	if err != nil {
		return nil, keyError(key, "%v", err)
	}
	seq := ottl.NewConditionSequence(parsed, set.Telemetry, ottl.WithConditionSequenceErrorMode[K](mode))
	return &seq, nil
}

// Bounds of ottl_condition, checked before parsing.
const (
	// maxOTTLConditions bounds the conditions of one list (span or
	// spanevent): each is evaluated on every span (event) of every trace.
	maxOTTLConditions = 256
	// maxOTTLConditionBytes bounds the text of one condition.
	maxOTTLConditionBytes = 8192
	// maxOTTLNesting bounds how deeply parentheses, brackets and braces
	// nest in one condition.
	maxOTTLNesting = 32
)

// checkOTTLConditions checks the bounds of the conditions under key.
func checkOTTLConditions(key string, conds []string) []error {
	var errs []error
	if len(conds) > maxOTTLConditions {
		errs = append(errs, keyError(key, "%d conditions, more than %d", len(conds), maxOTTLConditions))
	}
	for i, c := range conds {
		k := fmt.Sprintf("%s[%d]", key, i)
		if len(c) > maxOTTLConditionBytes {
			errs = append(errs, keyError(k, "%d bytes, longer than %d", len(c), maxOTTLConditionBytes))
			continue
		}
		if d := ottlNesting(c); d > maxOTTLNesting {
			errs = append(errs, keyError(k, "nested %d deep, more than %d", d, maxOTTLNesting))
		}
	}
	return errs
}

// ottlNesting returns how deeply (), [] and {} nest in an OTTL condition,
// outside string literals (double-quoted, with backslash escapes).
func ottlNesting(c string) int {
	depth, deepest := 0, 0
	inStr, escaped := false, false
	for i := 0; i < len(c); i++ {
		b := c[i]
		switch {
		case escaped:
			escaped = false
		case inStr && b == '\\':
			escaped = true
		case b == '"':
			inStr = !inStr
		case inStr:
		case b == '(' || b == '[' || b == '{':
			depth++
			deepest = max(deepest, depth)
		case b == ')' || b == ']' || b == '}':
			depth--
		}
	}
	return deepest
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
		if s.settled(ok, err) {
			return false
		}
	}
	if s.p.events != nil {
		events := span.Events()
		for i := 0; i < events.Len(); i++ {
			tc := ottlspanevent.NewTransformContext(rs, ss, span, events.At(i))
			ok, err := s.p.events.Eval(s.ctx, tc)
			tc.Close()
			if s.settled(ok, err) {
				return false
			}
		}
	}
	return true
}

// settled records one condition sequence's result and reports whether it
// ends the scan: a match, or an error (propagated).
func (s *ottlScan) settled(ok bool, err error) bool {
	if err != nil {
		s.err = err
		return true
	}
	s.matched = ok
	return ok
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
