package policy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
	"github.com/tailgate-otel/tailgate/tailsampler/policy/policytest"
)

// spanNamePolicy keeps the traces in which some span's name starts with
// one of its prefixes: something no built-in policy looks at.
type spanNamePolicy struct {
	policy.SpansOnly // resources never match
	prefixes         []string
}

// newSpanNamePolicy is the policy's Factory: it decodes the policy's block
// (`span_name: {prefixes: [...]}`) and checks it.
func newSpanNamePolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg struct {
		Prefixes []string `mapstructure:"prefixes"`
	}
	// Unmarshal rejects unknown keys, so a typo in the block is an error.
	if err := conf.Unmarshal(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Prefixes) == 0 {
		return nil, errors.New("prefixes: must list at least one prefix")
	}
	return &spanNamePolicy{prefixes: cfg.Prefixes}, nil
}

// MatchSpan makes spanNamePolicy a Matcher, so AnyMatch can scan for it.
func (p *spanNamePolicy) MatchSpan(span ptrace.Span) bool {
	for _, prefix := range p.prefixes {
		if strings.HasPrefix(span.Name(), prefix) {
			return true
		}
	}
	return false
}

// Evaluate reads the trace only; it keeps no state, so it is safe for
// concurrent use as it is. AnyMatch stops at the first matching span and
// allocates nothing.
func (p *spanNamePolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	if policy.AnyMatch(t, p) {
		return policy.Sampled, nil
	}
	return policy.NotSampled, nil
}

// trace builds a one-trace batch whose spans have the given names.
func trace(names ...string) ptrace.Traces {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i, name := range names {
		sp := spans.AppendEmpty()
		sp.SetTraceID([16]byte{1})
		sp.SetSpanID([8]byte{byte(i + 1)})
		sp.SetName(name)
	}
	return td
}

// A custom policy, built by its factory and tested on its own with
// policytest.
func Example() {
	p, err := newSpanNamePolicy(policy.Settings{}, confmap.NewFromStringMap(map[string]any{
		"prefixes": []any{"checkout."},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, td := range []ptrace.Traces{
		trace("GET /cart", "checkout.pay"),
		trace("GET /health"),
	} {
		d, err := p.Evaluate(ctx, policytest.NewTrace(td))
		fmt.Println(d, err)
	}
	// Output:
	// sampled <nil>
	// not_sampled <nil>
}

// The same policy registered with the processor under the type name
// span_name. A configuration that misuses it is refused by Validate, with
// the policy's place in the list in front of the factory's message.
func Example_register() {
	factory := tailsampler.NewFactory(tailsampler.WithPolicyType("span_name", newSpanNamePolicy))
	for _, block := range []map[string]any{
		{"prefixes": []any{"checkout."}},
		{},
	} {
		cfg := factory.CreateDefaultConfig()
		err := confmap.NewFromStringMap(map[string]any{
			"policies": []any{
				map[string]any{"name": "errors", "type": "status_code", "status_code": map[string]any{"status_codes": []any{"ERROR"}}},
				map[string]any{"name": "checkout", "type": "span_name", "span_name": block},
			},
		}).Unmarshal(cfg)
		if err == nil {
			err = confmap.Validate(cfg)
		}
		fmt.Println(err)
	}
	// Output:
	// <nil>
	// invalid tail_sampling configuration: policies[1] (checkout)::span_name::prefixes: must list at least one prefix
}
