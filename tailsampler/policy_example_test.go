package tailsampler_test

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tailgate-otel/tailgate/tailsampler"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// priorityPolicy keeps traces whose root span has a `priority` attribute
// of at least min_priority.
type priorityPolicy struct{ min int64 }

func newPriorityPolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg struct {
		MinPriority int64 `mapstructure:"min_priority"`
	}
	// Unmarshal rejects unknown keys, so a typo in the block is a config error.
	if err := conf.Unmarshal(&cfg); err != nil {
		return nil, err
	}
	if cfg.MinPriority <= 0 {
		return nil, errors.New("min_priority: must be positive")
	}
	return &priorityPolicy{min: cfg.MinPriority}, nil
}

func (p *priorityPolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	root, ok := t.Root()
	if !ok {
		return policy.Unspecified, nil
	}
	if v, ok := root.Attributes().Get("priority"); ok && v.Int() >= p.min {
		return policy.Sampled, nil
	}
	return policy.NotSampled, nil
}

// A custom policy type, registered with WithPolicyType and configured in
// YAML like any built-in one (here nested in an `and` with a built-in).
func Example_customPolicy() {
	factory := tailsampler.NewFactory(tailsampler.WithPolicyType("priority", newPriorityPolicy))
	cfg := factory.CreateDefaultConfig()
	// What `processors: tail_sampling:` would hold in the collector's YAML.
	err := confmap.NewFromStringMap(map[string]any{
		"decision_wait": "50ms",
		"policies": []any{map[string]any{
			"name": "important-and-slow",
			"type": "and",
			"and": map[string]any{"and_sub_policy": []any{
				map[string]any{"name": "important", "type": "priority", "priority": map[string]any{"min_priority": 5}},
				map[string]any{"name": "slow", "type": "latency", "latency": map[string]any{"threshold_ms": 100}},
			}},
		}},
	}).Unmarshal(cfg)
	if err == nil {
		err = confmap.Validate(cfg)
	}
	if err != nil {
		fmt.Println("config:", err)
		return
	}

	sink := new(consumertest.TracesSink)
	ctx := context.Background()
	proc, err := factory.CreateTraces(ctx, processortest.NewNopSettings(factory.Type()), cfg, sink)
	if err != nil {
		fmt.Println("create:", err)
		return
	}
	if err := proc.Start(ctx, componenttest.NewNopHost()); err != nil {
		fmt.Println("start:", err)
		return
	}
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i, prio := range []int64{9, 1, 9} {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(i + 1)})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		sp.SetName(fmt.Sprintf("request-%d", i))
		sp.Attributes().PutInt("priority", prio)
		sp.SetStartTimestamp(pcommon.Timestamp(1_000_000_000))
		dur := int64(150) // ms; the third request is fast
		if i == 2 {
			dur = 20
		}
		sp.SetEndTimestamp(pcommon.Timestamp(1_000_000_000 + dur*1_000_000))
	}
	if err := proc.ConsumeTraces(ctx, td); err != nil {
		fmt.Println("consume:", err)
		return
	}
	// Shutdown decides what is still pending and forwards what is kept.
	if err := proc.Shutdown(ctx); err != nil {
		fmt.Println("shutdown:", err)
		return
	}
	for _, out := range sink.AllTraces() {
		for i := 0; i < out.ResourceSpans().Len(); i++ {
			ss := out.ResourceSpans().At(i).ScopeSpans()
			for j := 0; j < ss.Len(); j++ {
				for k := 0; k < ss.At(j).Spans().Len(); k++ {
					fmt.Println("kept", ss.At(j).Spans().At(k).Name())
				}
			}
		}
	}
	// Output:
	// kept request-0
}
