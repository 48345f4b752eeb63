package policies

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// Built-in policy type names, spelt as upstream spells them.
const (
	typeAlwaysSample     = "always_sample"
	typeLatency          = "latency"
	typeNumericAttribute = "numeric_attribute"
	typeProbabilistic    = "probabilistic"
	typeStatusCode       = "status_code"
	typeStringAttribute  = "string_attribute"
	typeRateLimiting     = "rate_limiting"
	TypeBytesLimiting    = "bytes_limiting"
	typeSpanCount        = "span_count"
	typeTraceState       = "trace_state"
	typeTraceFlags       = "trace_flags"
	typeBooleanAttribute = "boolean_attribute"
	typeOTTLCondition    = "ottl_condition"
	typeAnd              = "and"
	typeNot              = "not"
	typeDrop             = "drop"
	typeComposite        = "composite"
)

var (
	// ErrUnknownPolicyType is wrapped by errors about a `type` that is
	// neither built in nor registered (tailsampler.WithPolicyType).
	ErrUnknownPolicyType = errors.New("unknown policy type")
	// ErrDuplicatePolicyName is wrapped by errors about two policies of
	// the same list sharing a name.
	ErrDuplicatePolicyName = errors.New("duplicate policy name")
	// ErrInvalidPolicy is wrapped by every error a built-in policy factory
	// returns for a bad value in its block.
	ErrInvalidPolicy = errors.New("invalid policy configuration")
)

// combinators builds sub-policies of and/not/drop/composite from the
// registry it is bound to, so that custom types can be nested too.
type combinators struct {
	reg map[string]policy.Factory
}

// combinatorPointers identifies our combinator factories inside a registry
// that the caller may have copied and extended: a func value cannot be
// compared, its code pointer can, and it is the same for every receiver.
var combinatorPointers = func() map[uintptr]string {
	var c combinators
	return map[uintptr]string{
		reflect.ValueOf(c.and).Pointer():       typeAnd,
		reflect.ValueOf(c.not).Pointer():       typeNot,
		reflect.ValueOf(c.drop).Pointer():      typeDrop,
		reflect.ValueOf(c.composite).Pointer(): typeComposite,
	}
}()

// Builtin returns a fresh registry of every built-in type. The built-ins
// use exactly the policy.Factory signature custom types use.
func Builtin() map[string]policy.Factory {
	reg := map[string]policy.Factory{
		typeAlwaysSample:     newAlwaysSamplePolicy,
		typeLatency:          newLatencyPolicy,
		typeNumericAttribute: newNumericAttributePolicy,
		typeProbabilistic:    newProbabilisticPolicy,
		typeStatusCode:       newStatusCodePolicy,
		typeStringAttribute:  newStringAttributePolicy,
		typeRateLimiting:     newRateLimitingPolicy,
		TypeBytesLimiting:    newBytesLimitingPolicy,
		typeSpanCount:        newSpanCountPolicy,
		typeTraceState:       newTraceStatePolicy,
		typeTraceFlags:       newTraceFlagsPolicy,
		typeBooleanAttribute: newBooleanAttributePolicy,
		typeOTTLCondition:    newOTTLConditionPolicy,
	}
	c := &combinators{}
	reg[typeAnd] = c.and
	reg[typeNot] = c.not
	reg[typeDrop] = c.drop
	reg[typeComposite] = c.composite
	c.reg = reg
	return reg
}

// bindRegistry returns a copy of reg whose combinators build their
// sub-policies from that copy, so a registry extended with custom types
// after Builtin returned still nests them. Factories the caller
// put under a combinator's name are left alone.
func bindRegistry(reg map[string]policy.Factory) map[string]policy.Factory {
	if reg == nil {
		return Builtin()
	}
	out := maps.Clone(reg)
	c := &combinators{reg: out}
	for name, f := range out {
		if f == nil {
			continue
		}
		switch combinatorPointers[reflect.ValueOf(f).Pointer()] {
		case typeAnd:
			out[name] = c.and
		case typeNot:
			out[name] = c.not
		case typeDrop:
			out[name] = c.drop
		case typeComposite:
			out[name] = c.composite
		}
	}
	return out
}

// Validate reports every problem of a policy list at once: names,
// types, stray keys and whatever each type's factory rejects, each error
// naming "policies[i] (name)::type::key".
func Validate(cfgs []PolicyCfg, reg map[string]policy.Factory) error {
	if len(cfgs) == 0 {
		return errors.New("policies: at least one policy is required")
	}
	reg = bindRegistry(reg)
	set := validationSettings()
	var errs []error
	errs = append(errs, checkNames("policies", cfgs, true)...)
	for i := range cfgs {
		if _, err := buildPolicy(&cfgs[i], label("policies", i, cfgs[i].Name), reg, set); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StatefulNames names the top-level policies of a valid list that are
// stateful (policy.Stateful), each as "policies[i] (name)".
func StatefulNames(cfgs []PolicyCfg, reg map[string]policy.Factory) []string {
	reg = bindRegistry(reg)
	set := validationSettings()
	var names []string
	for i := range cfgs {
		where := label("policies", i, cfgs[i].Name)
		if p, err := buildPolicy(&cfgs[i], where, reg, set); err == nil && isStateful(p) {
			names = append(names, where)
		}
	}
	return names
}

// validationSettings builds throwaway policies: nothing is recorded.
func validationSettings() policy.Settings {
	return normalizeSettings(policy.Settings{Telemetry: component.TelemetrySettings{}})
}

func label(list string, i int, name string) string {
	return fmt.Sprintf("%s[%d] (%s)", list, i, name)
}

// checkNames reports empty (when required) and repeated names in a list.
func checkNames(list string, cfgs []PolicyCfg, required bool) []error {
	var errs []error
	seen := make(map[string]int, len(cfgs))
	for i, c := range cfgs {
		if c.Name == "" {
			if required {
				errs = append(errs, fmt.Errorf("%s::name: must not be empty", label(list, i, c.Name)))
			}
			continue
		}
		if j, dup := seen[c.Name]; dup {
			errs = append(errs, fmt.Errorf("%s::name: %w %q, already used by %s[%d]", label(list, i, c.Name), ErrDuplicatePolicyName, c.Name, list, j))
			continue
		}
		seen[c.Name] = i
	}
	return errs
}

// buildPolicy builds one entry through its type's factory. Errors are
// prefixed with where the entry sits in the configuration.
func buildPolicy(cfg *PolicyCfg, where string, reg map[string]policy.Factory, set policy.Settings) (policy.Policy, error) {
	if cfg.Type == "" {
		return nil, fmt.Errorf("%s::type: must not be empty", where)
	}
	f := reg[cfg.Type]
	if f == nil {
		known := slices.Sorted(maps.Keys(reg))
		return nil, fmt.Errorf("%s::type: %w %q (known: %s)", where, ErrUnknownPolicyType, cfg.Type, strings.Join(known, ", "))
	}
	var errs []error
	for _, k := range cfg.strayKeys() {
		errs = append(errs, fmt.Errorf("%s::%s: unknown key for a policy of type %q", where, k, cfg.Type))
	}
	conf, err := cfg.blockConf()
	if err != nil {
		errs = append(errs, prefixErrors(where+"::", err))
		return nil, errors.Join(errs...)
	}
	sub := set
	sub.Name = cfg.Name
	p, err := f(sub, conf)
	if err != nil {
		errs = append(errs, prefixErrors(where+"::"+cfg.Type+"::", err))
	} else if p == nil {
		errs = append(errs, fmt.Errorf("%s::%s: factory returned no policy", where, cfg.Type))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// prefixedError keeps the wrapped error reachable by errors.Is while its
// message carries the configuration path.
type prefixedError struct {
	prefix string
	err    error
}

func (e *prefixedError) Error() string { return e.prefix + e.err.Error() }
func (e *prefixedError) Unwrap() error { return e.err }

// prefixErrors prefixes every leaf of a (possibly joined) error, so each
// line of the final message names its full path.
func prefixErrors(prefix string, err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts := j.Unwrap()
		out := make([]error, 0, len(parts))
		for _, e := range parts {
			out = append(out, prefixErrors(prefix, e))
		}
		return errors.Join(out...)
	}
	if p, ok := err.(*prefixedError); ok {
		return &prefixedError{prefix: prefix + p.prefix, err: p.err}
	}
	return &prefixedError{prefix: prefix, err: err}
}

// valueError is how built-in factories report a bad value: "key: problem".
// It matches ErrInvalidPolicy with errors.Is.
type valueError struct{ key, msg string }

func (e *valueError) Error() string        { return e.key + ": " + e.msg }
func (e *valueError) Is(target error) bool { return target == ErrInvalidPolicy }

func keyError(key, format string, args ...any) error {
	return &valueError{key: key, msg: fmt.Sprintf(format, args...)}
}

// decodeBlock decodes a factory's block, rejecting unknown keys.
func decodeBlock(conf *confmap.Conf, into any) error {
	if conf == nil {
		return nil
	}
	return conf.Unmarshal(into)
}
