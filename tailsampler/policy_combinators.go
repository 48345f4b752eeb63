package tailsampler

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/confmap"
)

// matches is how and/drop read a sub-policy's verdict: only a positive
// verdict counts. Upstream lets Unspecified and Dropped count as a match
// too; a sub-policy with no opinion should not make `and` sample.
func matches(d Decision) bool { return d == Sampled || d == InvertSampled }

func (c *combinators) buildList(list string, cfgs []PolicyCfg, set PolicySettings) ([]Policy, []string, error) {
	if len(cfgs) == 0 {
		return nil, nil, keyError(list, "must list at least one policy")
	}
	errs := checkNames(list, cfgs, false)
	subs := make([]Policy, 0, len(cfgs))
	names := make([]string, 0, len(cfgs))
	for i := range cfgs {
		p, err := buildPolicy(&cfgs[i], label(list, i, cfgs[i].Name), c.reg, set)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		subs = append(subs, p)
		names = append(names, cfgs[i].Name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return subs, names, nil
}

// and

type andPolicy struct{ subs []Policy }

func (c *combinators) and(set PolicySettings, conf *confmap.Conf) (Policy, error) {
	var cfg AndCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	subs, _, err := c.buildList("and_sub_policy", cfg.SubPolicies, set)
	if err != nil {
		return nil, err
	}
	return &andPolicy{subs: subs}, nil
}

// Evaluate samples when every sub-policy samples; it stops at the first
// one that does not.
func (p *andPolicy) Evaluate(ctx context.Context, t Trace) (Decision, error) {
	for _, s := range p.subs {
		d, err := s.Evaluate(ctx, t)
		if err != nil {
			return Unspecified, err
		}
		if !matches(d) {
			return NotSampled, nil
		}
	}
	return Sampled, nil
}

// drop

type dropPolicy struct{ subs []Policy }

func (c *combinators) drop(set PolicySettings, conf *confmap.Conf) (Policy, error) {
	var cfg DropCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	subs, _, err := c.buildList("drop_sub_policy", cfg.SubPolicies, set)
	if err != nil {
		return nil, err
	}
	return &dropPolicy{subs: subs}, nil
}

// Evaluate returns Dropped when every sub-policy samples, and Unspecified
// (no opinion) otherwise: a drop policy is a veto, never a vote.
func (p *dropPolicy) Evaluate(ctx context.Context, t Trace) (Decision, error) {
	for _, s := range p.subs {
		d, err := s.Evaluate(ctx, t)
		if err != nil {
			return Unspecified, err
		}
		if !matches(d) {
			return Unspecified, nil
		}
	}
	return Dropped, nil
}

// not

type notPolicy struct{ sub Policy }

func (c *combinators) not(set PolicySettings, conf *confmap.Conf) (Policy, error) {
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

// Evaluate inverts the sub-policy. Inverted verdicts are inverted too
// (upstream passes them through unchanged, so `not` around an invert_match
// policy did nothing); Unspecified and Dropped pass through.
func (p *notPolicy) Evaluate(ctx context.Context, t Trace) (Decision, error) {
	d, err := p.sub.Evaluate(ctx, t)
	if err != nil {
		return Unspecified, err
	}
	switch d {
	case Sampled, InvertSampled:
		return NotSampled, nil
	case NotSampled, InvertNotSampled:
		return Sampled, nil
	default:
		return d, nil
	}
}
