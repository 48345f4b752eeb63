package policies

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// compositePolicy evaluates its sub-policies in policy_order and keeps a
// trace when a sub-policy samples it and both that sub-policy's share and
// max_total_spans_per_second still have room in the current second.
//
// Differences from upstream, on purpose:
//   - when the matching sub-policy is over its share, evaluation falls
//     through to the next sub-policy instead of rejecting the trace
//     (upstream #36959), so an always_sample at the end really fills the
//     remaining capacity, as upstream's README promises;
//   - max_total_spans_per_second caps the sum over all sub-policies
//     (upstream compares each sub-policy's own count against it);
//   - policy_order is honoured (upstream evaluates in list order).
//
// As upstream, a sub-policy without a rate_allocation entry, or with
// `percent: 0`, gets an equal share: max_total_spans_per_second divided by
// the number of sub-policies.
type compositePolicy struct {
	now      func() time.Time
	maxTotal int64
	subs     []compositeSub // in evaluation order

	mu     sync.Mutex
	second int64
	total  int64
	used   []int64 // spans kept this second, per sub
}

type compositeSub struct {
	name   string
	p      policy.Policy
	budget int64 // spans per second
}

func (c *combinators) composite(set policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg CompositeCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	var errs []error
	if cfg.MaxTotalSpansPerSecond <= 0 {
		errs = append(errs, keyError("max_total_spans_per_second", "must be positive, got %d", cfg.MaxTotalSpansPerSecond))
	}
	names := make(map[string]int, len(cfg.SubPolicies))
	for i, s := range cfg.SubPolicies {
		if s.Name == "" {
			// Sub-policies are referenced by name from policy_order and
			// rate_allocation, so they need one here.
			errs = append(errs, keyError(label("composite_sub_policy", i, s.Name)+"::name", "must not be empty"))
		} else if _, dup := names[s.Name]; !dup {
			names[s.Name] = i
		}
	}
	subs, err := c.buildList("composite_sub_policy", cfg.SubPolicies, set)
	if err != nil {
		errs = append(errs, err)
	}

	budget := make(map[string]int64, len(cfg.RateAllocation))
	var sum int64
	for i, ra := range cfg.RateAllocation {
		switch {
		case ra.Policy == "":
			errs = append(errs, keyError("rate_allocation", "[%d] policy: must not be empty", i))
		default:
			if _, ok := names[ra.Policy]; !ok {
				errs = append(errs, keyError("rate_allocation", "[%d] policy: %q is not a composite_sub_policy", i, ra.Policy))
			}
			if _, dup := budget[ra.Policy]; dup {
				errs = append(errs, keyError("rate_allocation", "[%d] policy: %q is allocated twice", i, ra.Policy))
			}
		}
		if ra.Percent < 0 || ra.Percent > 100 {
			errs = append(errs, keyError("rate_allocation", "[%d] percent: must be between 0 and 100, got %d", i, ra.Percent))
		}
		sum += ra.Percent
		if ra.Percent > 0 {
			// Upstream computes the share in floating point and compares
			// whole span counts with it: the same as truncating.
			budget[ra.Policy] = int64(float64(ra.Percent) / 100 * float64(cfg.MaxTotalSpansPerSecond))
		}
	}
	if sum > 100 {
		errs = append(errs, keyError("rate_allocation", "percents must not sum to more than 100, got %d", sum))
	}

	var order []int
	placed := make(map[string]bool, len(cfg.PolicyOrder))
	for i, n := range cfg.PolicyOrder {
		j, ok := names[n]
		switch {
		case !ok:
			errs = append(errs, keyError("policy_order", "[%d] %q is not a composite_sub_policy", i, n))
		case placed[n]:
			errs = append(errs, keyError("policy_order", "[%d] %q is listed twice", i, n))
		default:
			placed[n] = true
			order = append(order, j)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, s := range cfg.SubPolicies {
		if !placed[s.Name] {
			order = append(order, i)
		}
	}

	set = normalizeSettings(set)
	p := &compositePolicy{now: set.Now, maxTotal: cfg.MaxTotalSpansPerSecond, used: make([]int64, len(order))}
	// Upstream's equal share is a float (total / n) compared with whole
	// span counts: truncating it admits the same traces.
	equal := int64(float64(cfg.MaxTotalSpansPerSecond) / float64(len(cfg.SubPolicies)))
	for _, i := range order {
		b, ok := budget[cfg.SubPolicies[i].Name]
		if !ok {
			b = equal
		}
		p.subs = append(p.subs, compositeSub{name: cfg.SubPolicies[i].Name, p: subs[i], budget: b})
	}
	return p, nil
}

// Stateful: a composite charges every kept trace to its per-second
// budgets (upstream only counts its sub-policies, and so lets a composite
// through span-ingest, where each batch of a trace is charged again).
func (p *compositePolicy) Stateful() bool { return true }

func (p *compositePolicy) Evaluate(ctx context.Context, t policy.Trace) (policy.Decision, error) {
	n := int64(t.SpanCount())
	for i := range p.subs {
		s := &p.subs[i]
		// Sub-policies run outside the lock: they may scan the whole trace.
		d, err := s.p.Evaluate(ctx, t)
		if err != nil {
			return policy.Unspecified, err
		}
		if !matches(d) {
			continue
		}
		if p.admit(i, n) {
			return policy.Sampled, nil
		}
	}
	return policy.NotSampled, nil
}

// admit charges n spans to sub i if its share and the total allow it.
func (p *compositePolicy) admit(i int, n int64) bool {
	sec := p.now().Unix()
	p.mu.Lock()
	defer p.mu.Unlock()
	if sec != p.second {
		p.second = sec
		p.total = 0
		clear(p.used)
	}
	if p.total+n > p.maxTotal || p.used[i]+n > p.subs[i].budget {
		return false
	}
	p.total += n
	p.used[i] += n
	return true
}
