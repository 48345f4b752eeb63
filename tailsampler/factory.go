package tailsampler

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/tailgate-otel/tailgate/tailsampler/internal/handoff"
	"github.com/tailgate-otel/tailgate/tailsampler/internal/policies"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// TypeStr is the component type, the same as upstream's.
const TypeStr = "tail_sampling"

var componentType = component.MustNewType(TypeStr)

// Option configures NewFactory. It is sealed: only this package makes them.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	custom  map[string]policy.Factory
	clock   clock
	err     error
	handoff []handoff.Option // engine options (WithHandoff*, tests)
	// handoffFromCode: WithHandoffResolver was given, so the default
	// handoff block carries resolver.FromCode().
	handoffFromCode bool
}

// registry is the built-in policy types plus the custom ones.
func (o *options) registry() map[string]policy.Factory {
	reg := policies.Builtin()
	for name, f := range o.custom {
		reg[name] = f
	}
	return reg
}

// WithPolicyType registers a custom policy type: a policy entry with
// `type: name` is built by f from the block under the `name:` key, at the
// top level or nested in and/not/drop/composite. Package policy holds what
// f builds (policy.Policy) and the rules it follows. A name that is empty,
// taken by a built-in type or registered twice makes the configuration
// invalid (reported by Validate).
func WithPolicyType(name string, f policy.Factory) Option {
	return optionFunc(func(o *options) {
		builtin := policies.Builtin()
		switch {
		case name == "" || f == nil:
			o.err = joinErr(o.err, fmt.Errorf("policy type %q: a custom type needs a name and a factory", name))
		case builtin[name] != nil:
			o.err = joinErr(o.err, fmt.Errorf("policy type %q: clashes with a built-in type", name))
		case o.custom[name] != nil:
			o.err = joinErr(o.err, fmt.Errorf("policy type %q: registered twice", name))
		default:
			if o.custom == nil {
				o.custom = map[string]policy.Factory{}
			}
			o.custom[name] = f
		}
	})
}

// withClock replaces the clock (tests).
func withClock(c clock) Option {
	return optionFunc(func(o *options) { o.clock = c })
}

func joinErr(a, b error) error {
	if a == nil {
		return b
	}
	return fmt.Errorf("%w; %w", a, b)
}

// NewFactory returns the `tail_sampling` processor factory (traces only).
func NewFactory(opts ...Option) processor.Factory {
	o := &options{}
	for _, opt := range opts {
		opt.apply(o)
	}
	return processor.NewFactory(componentType,
		func() component.Config { return createDefaultConfig(o) },
		processor.WithTraces(func(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("tail_sampling: unexpected config type %T", cfg)
			}
			if c.registry == nil {
				c.registry = o.registry()
			}
			p, err := newProcessor(set, c, next, o.clock)
			if err != nil {
				return nil, err
			}
			if !c.Handoff.HasValue() {
				return p, nil
			}
			return newHandoffSampler(p, set, c, o.handoff)
		}, component.StabilityLevelBeta))
}
