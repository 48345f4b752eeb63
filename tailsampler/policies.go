//lint:file-ignore SA1019 the deprecated aliases name deprecated decisions

package tailsampler

import (
	"errors"

	"github.com/tailgate-otel/tailgate/tailsampler/internal/policies"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// The `policies:` configuration. The built-in policy types live in an
// internal package; these aliases are their public names, as upstream's
// YAML spells them. A policy of a custom type is an entry whose block
// lands in PolicyCfg.Extra (see WithPolicyType and package policy).
type (
	// PolicyCfg is one entry of `policies:` and of every sub-policy list
	// (and_sub_policy, drop_sub_policy, composite_sub_policy,
	// not_sub_policy): its name, type and the block of its type.
	PolicyCfg = policies.PolicyCfg
	// LatencyCfg configures `latency`.
	LatencyCfg = policies.LatencyCfg
	// NumericAttributeCfg configures `numeric_attribute`.
	NumericAttributeCfg = policies.NumericAttributeCfg
	// ProbabilisticCfg configures `probabilistic`.
	ProbabilisticCfg = policies.ProbabilisticCfg
	// StatusCodeCfg configures `status_code`.
	StatusCodeCfg = policies.StatusCodeCfg
	// StringAttributeCfg configures `string_attribute`.
	StringAttributeCfg = policies.StringAttributeCfg
	// RateLimitingCfg configures `rate_limiting`.
	RateLimitingCfg = policies.RateLimitingCfg
	// BytesLimitingCfg configures `bytes_limiting`.
	BytesLimitingCfg = policies.BytesLimitingCfg
	// SpanCountCfg configures `span_count`.
	SpanCountCfg = policies.SpanCountCfg
	// TraceStateCfg configures `trace_state`.
	TraceStateCfg = policies.TraceStateCfg
	// BooleanAttributeCfg configures `boolean_attribute`.
	BooleanAttributeCfg = policies.BooleanAttributeCfg
	// OTTLConditionCfg configures `ottl_condition`.
	OTTLConditionCfg = policies.OTTLConditionCfg
	// AndCfg configures `and`.
	AndCfg = policies.AndCfg
	// NotCfg configures `not`.
	NotCfg = policies.NotCfg
	// DropCfg configures `drop`.
	DropCfg = policies.DropCfg
	// CompositeCfg configures `composite`.
	CompositeCfg = policies.CompositeCfg
	// RateAllocationCfg gives one composite sub-policy a share of
	// max_total_spans_per_second.
	RateAllocationCfg = policies.RateAllocationCfg
)

var (
	// ErrUnknownPolicyType is wrapped by Validate's errors about a `type`
	// that is neither built in nor registered with WithPolicyType.
	ErrUnknownPolicyType = policies.ErrUnknownPolicyType
	// ErrDuplicatePolicyName is wrapped by Validate's errors about two
	// policies of the same list sharing a name.
	ErrDuplicatePolicyName = policies.ErrDuplicatePolicyName
	// ErrInvalidPolicy is wrapped by every error a built-in policy type
	// reports for a bad value in its block.
	ErrInvalidPolicy = policies.ErrInvalidPolicy
	// ErrStatefulPolicy is wrapped by the error about stateful policies
	// under `sampling_strategy: span-ingest`.
	ErrStatefulPolicy = errors.New("stateful policy")
)

// The policy API under its earlier names in this package. Write new code
// against package policy, which holds all of it.
type (
	// Policy decides whether a trace is kept.
	//
	// Deprecated: use policy.Policy.
	Policy = policy.Policy
	// Trace is a read-only view of a buffered trace.
	//
	// Deprecated: use policy.Trace.
	Trace = policy.Trace
	// Decision is a policy's verdict on one trace.
	//
	// Deprecated: use policy.Decision.
	Decision = policy.Decision
	// StatefulPolicy is a policy whose verdict depends on more than the
	// trace.
	//
	// Deprecated: use policy.Stateful.
	StatefulPolicy = policy.Stateful
	// PolicyFunc adapts a function to Policy.
	//
	// Deprecated: use policy.Func.
	PolicyFunc = policy.Func
	// PolicySettings is what a PolicyFactory gets besides its block.
	//
	// Deprecated: use policy.Settings.
	PolicySettings = policy.Settings
	// PolicyFactory builds a policy of one type from its block.
	//
	// Deprecated: use policy.Factory.
	PolicyFactory = policy.Factory
)

// Decisions under their earlier names in this package.
const (
	// Deprecated: use policy.Unspecified.
	Unspecified = policy.Unspecified
	// Deprecated: use policy.NotSampled.
	NotSampled = policy.NotSampled
	// Deprecated: use policy.Sampled.
	Sampled = policy.Sampled
	// Deprecated: use policy.InvertSampled.
	InvertSampled = policy.InvertSampled
	// Deprecated: use policy.InvertNotSampled.
	InvertNotSampled = policy.InvertNotSampled
	// Deprecated: use policy.Dropped.
	Dropped = policy.Dropped
)
