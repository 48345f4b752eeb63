package policies

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

func TestPolicyValidationMessages(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every line must appear in the error
		is   error
	}{
		{"empty name and duplicate", `
policies:
  - {name: "", type: always_sample}
  - {name: a, type: always_sample}
  - {name: a, type: always_sample}`,
			[]string{"policies[0] ()::name: must not be empty", `policies[2] (a)::name: duplicate policy name "a", already used by policies[1]`}, ErrDuplicatePolicyName},
		{"unknown type", `
policies:
  - {name: x, type: nope}`, []string{`policies[0] (x)::type: unknown policy type "nope"`}, ErrUnknownPolicyType},
		{"missing type", `
policies:
  - {name: x}`, []string{"policies[0] (x)::type: must not be empty"}, nil},
		{"stray block", `
policies:
  - {name: x, type: always_sample, latncy: {threshold_ms: 1}}`, []string{`policies[0] (x)::latncy: unknown key for a policy of type "always_sample"`}, nil},
		{"latency", `
policies:
  - {name: l, type: latency, latency: {threshold_ms: -1, upper_threshold_ms: -2}}
  - {name: m, type: latency, latency: {threshold_ms: 10, upper_threshold_ms: 5}}`,
			[]string{"policies[0] (l)::latency::threshold_ms: must not be negative, got -1",
				"policies[0] (l)::latency::upper_threshold_ms: must not be negative, got -2",
				"policies[1] (m)::latency::upper_threshold_ms: must be greater than threshold_ms (10), got 5"}, ErrInvalidPolicy},
		{"probabilistic", `
policies:
  - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 101}}
  - {name: q, type: probabilistic, probabilistic: {sampling_percentage: -1}}`,
			[]string{"policies[0] (p)::probabilistic::sampling_percentage: must be between 0 and 100, got 101",
				"policies[1] (q)::probabilistic::sampling_percentage: must be between 0 and 100, got -1"}, ErrInvalidPolicy},
		{"status code", `
policies:
  - {name: s, type: status_code, status_code: {status_codes: [ERROR, FAIL]}}
  - {name: t, type: status_code}`,
			[]string{`policies[0] (s)::status_code::status_codes: [1] unknown status code "FAIL", supported: OK, ERROR, UNSET`,
				"policies[1] (t)::status_code::status_codes: must list at least one of OK, ERROR, UNSET"}, ErrInvalidPolicy},
		{"string attribute", `
policies:
  - {name: s, type: string_attribute, string_attribute: {values: ["(", ok], enabled_regex_matching: true, cache_max_size: -1}}`,
			[]string{"policies[0] (s)::string_attribute::key: must not be empty",
				"policies[0] (s)::string_attribute::cache_max_size: must not be negative, got -1",
				`policies[0] (s)::string_attribute::values: [0] invalid regular expression "("`}, ErrInvalidPolicy},
		{"numeric attribute", `
policies:
  - {name: n, type: numeric_attribute, numeric_attribute: {key: k}}
  - {name: o, type: numeric_attribute, numeric_attribute: {key: k, min_value: 5, max_value: 1}}`,
			[]string{"policies[0] (n)::numeric_attribute::min_value: at least one of min_value and max_value must be set",
				"policies[1] (o)::numeric_attribute::max_value: must not be less than min_value (5), got 1"}, ErrInvalidPolicy},
		{"limits", `
policies:
  - {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 0, burst_capacity: -1}}
  - {name: b, type: bytes_limiting, bytes_limiting: {bytes_per_second: -5}}`,
			[]string{"policies[0] (r)::rate_limiting::spans_per_second: must be positive, got 0",
				"policies[0] (r)::rate_limiting::burst_capacity: must not be negative, got -1",
				"policies[1] (b)::bytes_limiting::bytes_per_second: must be positive, got -5"}, ErrInvalidPolicy},
		{"span count", `
policies:
  - {name: c, type: span_count, span_count: {min_spans: 10, max_spans: 2}}`,
			[]string{"policies[0] (c)::span_count::max_spans: must not be less than min_spans (10), got 2"}, ErrInvalidPolicy},
		{"trace state and boolean", `
policies:
  - {name: ts, type: trace_state, trace_state: {}}
  - {name: b, type: boolean_attribute, boolean_attribute: {value: true}}`,
			[]string{"policies[0] (ts)::trace_state::key: must not be empty", "policies[0] (ts)::trace_state::values: must list at least one value",
				"policies[1] (b)::boolean_attribute::key: must not be empty"}, ErrInvalidPolicy},
		{"ottl", `
policies:
  - {name: o, type: ottl_condition, ottl_condition: {error_mode: loud, span: ['attributes["a" == 1']}}
  - {name: e, type: ottl_condition, ottl_condition: {}}`,
			[]string{`policies[0] (o)::ottl_condition::error_mode: must be one of ignore, propagate, silent, got "loud"`,
				`policies[0] (o)::ottl_condition::span: unable to parse OTTL condition`,
				"policies[1] (e)::ottl_condition::span: at least one span or spanevent condition is required"}, ErrInvalidPolicy},
		{"nested and/not/drop", `
policies:
  - name: a
    type: and
    and: {and_sub_policy: [{name: x, type: latency, latency: {threshold_ms: -1}}, {name: y, type: what}]}
  - {name: n, type: not, not: {}}
  - {name: d, type: drop, drop: {drop_sub_policy: []}}
  - name: nn
    type: not
    not: {not_sub_policy: {name: inner, type: probabilistic, probabilistic: {sampling_percentage: 200}}}`,
			[]string{"policies[0] (a)::and::and_sub_policy[0] (x)::latency::threshold_ms: must not be negative, got -1",
				`policies[0] (a)::and::and_sub_policy[1] (y)::type: unknown policy type "what"`,
				"policies[1] (n)::not::not_sub_policy: must be set",
				"policies[2] (d)::drop::drop_sub_policy: must list at least one policy",
				"policies[3] (nn)::not::not_sub_policy (inner)::probabilistic::sampling_percentage: must be between 0 and 100, got 200"}, nil},
		{"composite", `
policies:
  - name: c
    type: composite
    composite:
      max_total_spans_per_second: 0
      policy_order: [x, ghost, x]
      composite_sub_policy:
        - {name: x, type: always_sample}
        - {name: "", type: always_sample}
      rate_allocation:
        - {policy: x, percent: 80}
        - {policy: nobody, percent: 30}
        - {policy: x, percent: 101}`,
			[]string{"policies[0] (c)::composite::max_total_spans_per_second: must be positive, got 0",
				"policies[0] (c)::composite::composite_sub_policy[1] ()::name: must not be empty",
				`policies[0] (c)::composite::rate_allocation: [1] policy: "nobody" is not a composite_sub_policy`,
				`policies[0] (c)::composite::rate_allocation: [2] policy: "x" is allocated twice`,
				"policies[0] (c)::composite::rate_allocation: [2] percent: must be between 0 and 100, got 101",
				"policies[0] (c)::composite::rate_allocation: percents must not sum to more than 100, got 211",
				`policies[0] (c)::composite::policy_order: [1] "ghost" is not a composite_sub_policy`,
				`policies[0] (c)::composite::policy_order: [2] "x" is listed twice`}, ErrInvalidPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgs, err := loadPolicies(t, tt.yaml)
			require.NoError(t, err)
			err = Validate(cfgs, Builtin())
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			// New refuses the same configuration with the same text.
			_, err2 := New(cfgs, Builtin(), policy.Settings{}, Options{})
			require.Error(t, err2)
			assert.Equal(t, err.Error(), err2.Error())
		})
	}
}

func TestPolicyValidationEmptyList(t *testing.T) {
	require.EqualError(t, Validate(nil, Builtin()), "policies: at least one policy is required")
}

// A custom type registered next to the built-ins is nested inside
// combinators, whose registry is re-bound to the extended one.
func TestPolicyCustomTypeNestsInCombinators(t *testing.T) {
	reg := Builtin()
	var seen map[string]any
	reg["my_type"] = func(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
		var cfg struct {
			Keep bool `mapstructure:"keep"`
		}
		if err := conf.Unmarshal(&cfg); err != nil {
			return nil, err
		}
		seen = conf.ToStringMap()
		return policy.Func(func(context.Context, policy.Trace) (policy.Decision, error) { return boolDecision(cfg.Keep), nil }), nil
	}
	cfgs, err := loadPolicies(t, `
policies:
  - name: outer
    type: and
    and:
      and_sub_policy:
        - {name: mine, type: my_type, my_type: {keep: true}}
        - {name: all, type: always_sample}
`)
	require.NoError(t, err)
	ps, err := New(cfgs, reg, policy.Settings{}, Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"keep": true}, seen)
	d, name := ps.Decide(context.Background(), buildTrace(testTraceID, spanSpec{durMs: 1}))
	assert.Equal(t, policy.Sampled, d)
	assert.Equal(t, "outer", name)

	// A custom factory's errors get the same path prefix; unknown keys in
	// its block are rejected by its own Unmarshal.
	cfgs, err = loadPolicies(t, `
policies:
  - {name: m, type: my_type, my_type: {kep: true}}
`)
	require.NoError(t, err)
	err = Validate(cfgs, reg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policies[0] (m)::my_type::")
	assert.Contains(t, err.Error(), "kep")
	assert.False(t, errors.Is(err, ErrUnknownPolicyType))
}

// Stateful policies are found at every level of nesting, by place
// (StatefulNames, for Validate) and by name (Set.Stateful).
func TestStatefulNames(t *testing.T) {
	cfgs, err := loadPolicies(t, `
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: budget, type: rate_limiting, rate_limiting: {spans_per_second: 10}}
  - {name: slow, type: latency, latency: {threshold_ms: 10}}
  - {name: band, type: latency, latency: {threshold_ms: 10, upper_threshold_ms: 20}}
  - {name: a, type: and, and: {and_sub_policy: [{name: x, type: always_sample}, {name: y, type: span_count, span_count: {max_spans: 3}}]}}
  - {name: d, type: drop, drop: {drop_sub_policy: [{name: y, type: string_attribute, string_attribute: {key: k, values: [v]}}]}}
`)
	require.NoError(t, err)
	assert.Equal(t, []string{"policies[1] (budget)", "policies[3] (band)", "policies[4] (a)"}, StatefulNames(cfgs, Builtin()))
	ps, err := New(cfgs, Builtin(), policy.Settings{}, Options{})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"budget", "band", "a"}, ps.Stateful())
}
