package policies

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/confmap"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// matches is how and/drop/composite read a sub-policy's verdict: only a
// positive verdict counts. Upstream's and/drop let every verdict other
// than a negative one count (Unspecified, Dropped); no built-in policy
// returns those without an error, so only custom policies can tell, and a
// sub-policy with no opinion should not make `and` sample.
func matches(d policy.Decision) bool { return d.Samples() }

// anyStateful reports whether one of ps is stateful (policy.Stateful).
func anyStateful(ps []policy.Policy) bool {
	for _, p := range ps {
		if isStateful(p) {
			return true
		}
	}
	return false
}

func isStateful(p policy.Policy) bool {
	s, ok := p.(policy.Stateful)
	return ok && s.Stateful()
}

// buildList builds the sub-policies of one list, in order.
func (c *combinators) buildList(list string, cfgs []PolicyCfg, set policy.Settings) ([]policy.Policy, error) {
	if len(cfgs) == 0 {
		return nil, keyError(list, "must list at least one policy")
	}
	errs := checkNames(list, cfgs, false)
	subs := make([]policy.Policy, 0, len(cfgs))
	for i := range cfgs {
		p, err := buildPolicy(&cfgs[i], label(list, i, cfgs[i].Name), c.reg, set)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		subs = append(subs, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return subs, nil
}

// and

type andPolicy struct{ subs []policy.Policy }

func (c *combinators) and(set policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg AndCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	subs, err := c.buildList("and_sub_policy", cfg.SubPolicies, set)
	if err != nil {
		return nil, err
	}
	return &andPolicy{subs: subs}, nil
}

// Evaluate samples when every sub-policy samples; it stops at the first
// one that does not.
func (p *andPolicy) Evaluate(ctx context.Context, t policy.Trace) (policy.Decision, error) {
	return allMatch(ctx, p.subs, t, policy.Sampled)
}

// allMatch returns then when every sub-policy samples t, NotSampled at the
// first one that does not, and the first error.
func allMatch(ctx context.Context, subs []policy.Policy, t policy.Trace, then policy.Decision) (policy.Decision, error) {
	for _, s := range subs {
		d, err := s.Evaluate(ctx, t)
		if err != nil {
			return policy.Unspecified, err
		}
		if !matches(d) {
			return policy.NotSampled, nil
		}
	}
	return then, nil
}

// Stateful: an and is as stateful as its sub-policies.
func (p *andPolicy) Stateful() bool { return anyStateful(p.subs) }

// samplingThreshold is upstream's threshold of an and: the largest of its
// sub-policies' (the most selective one decides whether a trace passes).
func (p *andPolicy) samplingThreshold() uint64 {
	var th uint64
	for _, s := range p.subs {
		th = max(th, thresholdOf(s))
	}
	return th
}

// drop

type dropPolicy struct{ subs []policy.Policy }

func (c *combinators) drop(set policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg DropCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	subs, err := c.buildList("drop_sub_policy", cfg.SubPolicies, set)
	if err != nil {
		return nil, err
	}
	return &dropPolicy{subs: subs}, nil
}

// Evaluate returns Dropped when every sub-policy samples, and NotSampled
// otherwise, as upstream. At the top level a drop policy is a veto, never
// a vote: its NotSampled is counted in its metrics and nowhere else.
func (p *dropPolicy) Evaluate(ctx context.Context, t policy.Trace) (policy.Decision, error) {
	return allMatch(ctx, p.subs, t, policy.Dropped)
}

// Stateful: a drop is as stateful as its sub-policies.
func (p *dropPolicy) Stateful() bool { return anyStateful(p.subs) }

// not

type notPolicy struct{ sub policy.Policy }

func (c *combinators) not(set policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg NotCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	if cfg.SubPolicy == nil {
		return nil, keyError("not_sub_policy", "must be set")
	}
	sub, err := buildPolicy(cfg.SubPolicy, fmt.Sprintf("not_sub_policy (%s)", cfg.SubPolicy.Name), c.reg, set)
	if err != nil {
		return nil, err
	}
	return &notPolicy{sub: sub}, nil
}

// Evaluate turns Sampled into NotSampled and back, as upstream; every
// other verdict (Unspecified, Dropped, a custom policy's inverted ones)
// passes through. An invert_match sub-policy has already flipped its own
// match, so `not` around it samples what the policy without invert_match
// would.
func (p *notPolicy) Evaluate(ctx context.Context, t policy.Trace) (policy.Decision, error) {
	d, err := p.sub.Evaluate(ctx, t)
	if err != nil {
		return policy.Unspecified, err
	}
	switch d {
	case policy.Sampled:
		return policy.NotSampled, nil
	case policy.NotSampled:
		return policy.Sampled, nil
	default:
		return d, nil
	}
}

// Stateful: a not is as stateful as its sub-policy.
func (p *notPolicy) Stateful() bool { return isStateful(p.sub) }
