package policies

import (
	"fmt"

	"go.opentelemetry.io/collector/confmap"
)

// PolicyCfg is one entry of `policies:` and of every sub-policy list
// (and_sub_policy, drop_sub_policy, composite_sub_policy, not_sub_policy).
//
// Every built-in type has a typed block, so upstream YAML decodes unchanged
// and a misspelt key inside a block is rejected by the config loader. Blocks
// of custom policy types (registered with tailsampler.WithPolicyType) land in Extra,
// keyed by the type name, and are handed to their factory as-is.
type PolicyCfg struct {
	Name string `mapstructure:"name"`
	Type string `mapstructure:"type"`

	Latency          LatencyCfg          `mapstructure:"latency"`
	NumericAttribute NumericAttributeCfg `mapstructure:"numeric_attribute"`
	Probabilistic    ProbabilisticCfg    `mapstructure:"probabilistic"`
	StatusCode       StatusCodeCfg       `mapstructure:"status_code"`
	StringAttribute  StringAttributeCfg  `mapstructure:"string_attribute"`
	RateLimiting     RateLimitingCfg     `mapstructure:"rate_limiting"`
	BytesLimiting    BytesLimitingCfg    `mapstructure:"bytes_limiting"`
	SpanCount        SpanCountCfg        `mapstructure:"span_count"`
	TraceState       TraceStateCfg       `mapstructure:"trace_state"`
	BooleanAttribute BooleanAttributeCfg `mapstructure:"boolean_attribute"`
	OTTLCondition    OTTLConditionCfg    `mapstructure:"ottl_condition"`
	And              AndCfg              `mapstructure:"and"`
	Not              NotCfg              `mapstructure:"not"`
	Drop             DropCfg             `mapstructure:"drop"`
	Composite        CompositeCfg        `mapstructure:"composite"`

	// Extra holds every other key of the entry: the block of a custom
	// policy type, or a misspelt key, which validation reports.
	Extra map[string]any `mapstructure:",remain"`
}

// LatencyCfg configures `latency`: the trace lasts (last span end minus
// first span start) at least ThresholdMs, or, when UpperThresholdMs is set,
// more than ThresholdMs and at most UpperThresholdMs.
type LatencyCfg struct {
	ThresholdMs      int64 `mapstructure:"threshold_ms"`
	UpperThresholdMs int64 `mapstructure:"upper_threshold_ms"`
}

// NumericAttributeCfg configures `numeric_attribute`. Either bound may be
// left out; a missing bound is open.
type NumericAttributeCfg struct {
	Key         string `mapstructure:"key"`
	MinValue    *int64 `mapstructure:"min_value"`
	MaxValue    *int64 `mapstructure:"max_value"`
	InvertMatch bool   `mapstructure:"invert_match"`
}

// ProbabilisticCfg configures `probabilistic`.
type ProbabilisticCfg struct {
	HashSalt           string  `mapstructure:"hash_salt"`
	SamplingPercentage float64 `mapstructure:"sampling_percentage"`
}

// StatusCodeCfg configures `status_code`: any of OK, ERROR, UNSET.
type StatusCodeCfg struct {
	StatusCodes []string `mapstructure:"status_codes"`
}

// StringAttributeCfg configures `string_attribute`.
type StringAttributeCfg struct {
	Key                  string   `mapstructure:"key"`
	Values               []string `mapstructure:"values"`
	EnabledRegexMatching bool     `mapstructure:"enabled_regex_matching"`
	CacheMaxSize         int      `mapstructure:"cache_max_size"`
	InvertMatch          bool     `mapstructure:"invert_match"`
}

// RateLimitingCfg configures `rate_limiting`: a token bucket of spans.
type RateLimitingCfg struct {
	SpansPerSecond int64 `mapstructure:"spans_per_second"`
	BurstCapacity  int64 `mapstructure:"burst_capacity"`
}

// BytesLimitingCfg configures `bytes_limiting`: a token bucket of bytes.
type BytesLimitingCfg struct {
	BytesPerSecond int64 `mapstructure:"bytes_per_second"`
	BurstCapacity  int64 `mapstructure:"burst_capacity"`
}

// SpanCountCfg configures `span_count`; MaxSpans 0 means no upper bound.
type SpanCountCfg struct {
	MinSpans int32 `mapstructure:"min_spans"`
	MaxSpans int32 `mapstructure:"max_spans"`
}

// TraceStateCfg configures `trace_state`: some span's W3C tracestate has
// Key with one of Values.
type TraceStateCfg struct {
	Key    string   `mapstructure:"key"`
	Values []string `mapstructure:"values"`
}

// BooleanAttributeCfg configures `boolean_attribute`.
type BooleanAttributeCfg struct {
	Key         string `mapstructure:"key"`
	Value       bool   `mapstructure:"value"`
	InvertMatch bool   `mapstructure:"invert_match"`
}

// OTTLConditionCfg configures `ottl_condition`. ErrorMode is one of
// ignore, propagate (the default) or silent.
type OTTLConditionCfg struct {
	ErrorMode           string   `mapstructure:"error_mode"`
	SpanConditions      []string `mapstructure:"span"`
	SpanEventConditions []string `mapstructure:"spanevent"`
}

// AndCfg configures `and`: sampled when every sub-policy samples.
type AndCfg struct {
	SubPolicies []PolicyCfg `mapstructure:"and_sub_policy"`
}

// NotCfg configures `not`: the inverse of its one sub-policy.
type NotCfg struct {
	SubPolicy *PolicyCfg `mapstructure:"not_sub_policy"`
}

// DropCfg configures `drop`: the trace is dropped when every sub-policy
// samples it.
type DropCfg struct {
	SubPolicies []PolicyCfg `mapstructure:"drop_sub_policy"`
}

// CompositeCfg configures `composite`.
type CompositeCfg struct {
	MaxTotalSpansPerSecond int64               `mapstructure:"max_total_spans_per_second"`
	PolicyOrder            []string            `mapstructure:"policy_order"`
	SubPolicies            []PolicyCfg         `mapstructure:"composite_sub_policy"`
	RateAllocation         []RateAllocationCfg `mapstructure:"rate_allocation"`
}

// RateAllocationCfg gives one composite sub-policy a share of
// max_total_spans_per_second.
type RateAllocationCfg struct {
	Policy  string `mapstructure:"policy"`
	Percent int64  `mapstructure:"percent"`
}

// typedBlock returns the typed block of a built-in type, or nil.
func (c *PolicyCfg) typedBlock() any {
	switch c.Type {
	case typeLatency:
		return &c.Latency
	case typeNumericAttribute:
		return &c.NumericAttribute
	case typeProbabilistic:
		return &c.Probabilistic
	case typeStatusCode:
		return &c.StatusCode
	case typeStringAttribute:
		return &c.StringAttribute
	case typeRateLimiting:
		return &c.RateLimiting
	case TypeBytesLimiting:
		return &c.BytesLimiting
	case typeSpanCount:
		return &c.SpanCount
	case typeTraceState:
		return &c.TraceState
	case typeBooleanAttribute:
		return &c.BooleanAttribute
	case typeOTTLCondition:
		return &c.OTTLCondition
	case typeAnd:
		return &c.And
	case typeNot:
		return &c.Not
	case typeDrop:
		return &c.Drop
	case typeComposite:
		return &c.Composite
	}
	return nil
}

// Marshal writes the entry back as upstream YAML would spell it: name,
// type and the block of its type only (plus Extra). It lets a composite
// hand its sub-policies to factories as *confmap.Conf without the empty
// blocks of every other type.
func (c PolicyCfg) Marshal(conf *confmap.Conf) error {
	m := make(map[string]any, len(c.Extra)+3)
	for k, v := range c.Extra {
		m[k] = v
	}
	m["name"] = c.Name
	m["type"] = c.Type
	if b := c.typedBlock(); b != nil {
		m[c.Type] = b
	}
	return conf.Marshal(m)
}

// blockConf is the configuration block a factory receives: the typed block
// re-encoded for built-in types, the raw map for custom ones. Both go
// through the same policy.Factory signature.
func (c *PolicyCfg) blockConf() (*confmap.Conf, error) {
	if b := c.typedBlock(); b != nil {
		conf := confmap.New()
		if err := conf.Marshal(b); err != nil {
			return nil, fmt.Errorf("encoding block: %w", err)
		}
		return conf, nil
	}
	raw, ok := c.Extra[c.Type]
	if !ok || raw == nil {
		return confmap.New(), nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be a map, got %T", c.Type, raw)
	}
	return confmap.NewFromStringMap(m), nil
}

// strayKeys lists keys of the entry that belong to no block: anything in
// Extra except the custom type's own block.
func (c *PolicyCfg) strayKeys() []string {
	var out []string
	for k := range c.Extra {
		if k == c.Type && c.typedBlock() == nil {
			continue
		}
		out = append(out, k)
	}
	return out
}

// UsesType reports whether a policy of type typ appears anywhere in cfgs,
// sub-policies included.
func UsesType(cfgs []PolicyCfg, typ string) bool {
	for i := range cfgs {
		c := &cfgs[i]
		if c.Type == typ {
			return true
		}
		var subs []PolicyCfg
		switch c.Type {
		case typeAnd:
			subs = c.And.SubPolicies
		case typeDrop:
			subs = c.Drop.SubPolicies
		case typeComposite:
			subs = c.Composite.SubPolicies
		case typeNot:
			if c.Not.SubPolicy != nil {
				subs = []PolicyCfg{*c.Not.SubPolicy}
			}
		}
		if UsesType(subs, typ) {
			return true
		}
	}
	return false
}
