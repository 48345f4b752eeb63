package policies

import (
	"context"
	"errors"
	"math"
	"regexp"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// The attribute policies look at resource attributes, then at span
// attributes, and match when any of them has the key with a matching
// value. Only values of the right type match: upstream converts (a string
// attribute reads as the integer 0, so `min_value: 0` matched any string);
// we do not.

// string_attribute

type stringAttributePolicy struct {
	key    string
	exact  map[string]struct{}
	regex  *regexMatcher
	invert bool
}

func newStringAttributePolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg StringAttributeCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	errs := checkKeyValues(cfg.Key, cfg.Values)
	if cfg.CacheMaxSize < 0 {
		errs = append(errs, keyError("cache_max_size", "must not be negative, got %d", cfg.CacheMaxSize))
	}
	p := &stringAttributePolicy{key: cfg.Key, invert: cfg.InvertMatch}
	if cfg.EnabledRegexMatching {
		res := make([]*regexp.Regexp, 0, len(cfg.Values))
		for i, v := range cfg.Values {
			re, err := regexp.Compile(v)
			if err != nil {
				errs = append(errs, keyError("values", "[%d] invalid regular expression %q: %v", i, v, err))
				continue
			}
			res = append(res, re)
		}
		p.regex = newRegexMatcher(res, cfg.CacheMaxSize)
	} else {
		p.exact = make(map[string]struct{}, len(cfg.Values))
		for _, v := range cfg.Values {
			if v != "" {
				p.exact[v] = struct{}{}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *stringAttributePolicy) matchString(s string) bool {
	if p.regex != nil {
		return p.regex.match(s)
	}
	_, ok := p.exact[s]
	return ok
}

func (p *stringAttributePolicy) MatchResource(res pcommon.Resource) bool {
	v, ok := res.Attributes().Get(p.key)
	return ok && v.Type() == pcommon.ValueTypeStr && p.matchString(v.Str())
}

func (p *stringAttributePolicy) MatchSpan(span ptrace.Span) bool {
	v, ok := span.Attributes().Get(p.key)
	// Upstream skips empty span values; so do we, for the same verdicts.
	return ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" && p.matchString(v.Str())
}

func (p *stringAttributePolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	return matchDecision(policy.AnyMatch(t, p), p.invert), nil
}

// numeric_attribute

type numericAttributePolicy struct {
	key      string
	min, max int64
	invert   bool
}

func newNumericAttributePolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg NumericAttributeCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	var errs []error
	if cfg.Key == "" {
		errs = append(errs, keyError("key", "must not be empty"))
	}
	if cfg.MinValue == nil && cfg.MaxValue == nil {
		errs = append(errs, keyError("min_value", "at least one of min_value and max_value must be set"))
	}
	p := &numericAttributePolicy{key: cfg.Key, min: math.MinInt64, max: math.MaxInt64, invert: cfg.InvertMatch}
	if cfg.MinValue != nil {
		p.min = *cfg.MinValue
	}
	if cfg.MaxValue != nil {
		p.max = *cfg.MaxValue
	}
	if p.max < p.min {
		errs = append(errs, keyError("max_value", "must not be less than min_value (%d), got %d", p.min, p.max))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *numericAttributePolicy) inRange(v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		n := v.Int()
		return n >= p.min && n <= p.max
	case pcommon.ValueTypeDouble:
		f := v.Double()
		return f >= float64(p.min) && f <= float64(p.max)
	}
	return false
}

func (p *numericAttributePolicy) MatchResource(res pcommon.Resource) bool {
	v, ok := res.Attributes().Get(p.key)
	return ok && p.inRange(v)
}

func (p *numericAttributePolicy) MatchSpan(span ptrace.Span) bool {
	v, ok := span.Attributes().Get(p.key)
	return ok && p.inRange(v)
}

func (p *numericAttributePolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	return matchDecision(policy.AnyMatch(t, p), p.invert), nil
}

// boolean_attribute

type booleanAttributePolicy struct {
	key    string
	value  bool
	invert bool
}

func newBooleanAttributePolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg BooleanAttributeCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	if cfg.Key == "" {
		return nil, keyError("key", "must not be empty")
	}
	return &booleanAttributePolicy{key: cfg.Key, value: cfg.Value, invert: cfg.InvertMatch}, nil
}

func (p *booleanAttributePolicy) MatchResource(res pcommon.Resource) bool {
	v, ok := res.Attributes().Get(p.key)
	return ok && v.Type() == pcommon.ValueTypeBool && v.Bool() == p.value
}

func (p *booleanAttributePolicy) MatchSpan(span ptrace.Span) bool {
	v, ok := span.Attributes().Get(p.key)
	return ok && v.Type() == pcommon.ValueTypeBool && v.Bool() == p.value
}

func (p *booleanAttributePolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	return matchDecision(policy.AnyMatch(t, p), p.invert), nil
}

// checkKeyValues reports what string_attribute and trace_state require
// of their key and values blocks: a key and at least one value.
func checkKeyValues(key string, values []string) []error {
	var errs []error
	if key == "" {
		errs = append(errs, keyError("key", "must not be empty"))
	}
	if len(values) == 0 {
		errs = append(errs, keyError("values", "must list at least one value"))
	}
	return errs
}

// matchDecision maps a scan result to a decision. invert_match flips the
// policy's own match and nothing else, as upstream does since it removed
// its inverted decisions: an inverted policy samples the traces in which
// no resource or span matches (a missing key counts as no match).
func matchDecision(matched, invert bool) policy.Decision {
	return boolDecision(matched != invert)
}
