package policies

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
	"github.com/tailgate-otel/tailgate/tailsampler/policy/policytest"
)

// p2Policies is the P2 benchmark mix.
const p2Policies = `
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: slow, type: latency, latency: {threshold_ms: 500}}
  - {name: sample, type: probabilistic, probabilistic: {sampling_percentage: 10}}
  - {name: tier, type: string_attribute, string_attribute: {key: customer.tier, values: [enterprise]}}
  - {name: retries, type: numeric_attribute, numeric_attribute: {key: retry.count, min_value: 5}}
`

func p2Traces(b *testing.B) []*policytest.Trace {
	batches := tracegen.Batches(tracegen.Spec{Traces: 1000, SpansPerTrace: 10, TracesPerBatch: 1, ErrorEvery: 50, SlowEvery: 20, SlowDuration: time.Second})
	out := make([]*policytest.Trace, len(batches))
	for i, td := range batches {
		out[i] = policytest.NewTrace(td)
	}
	return out
}

// benchRound is the processor's decision round (its maxRound): a tally is
// flushed after that many decisions.
const benchRound = 4096

func benchDecide(b *testing.B, meter metric.Meter, tallied bool) {
	cfgs, err := loadPolicies(b, p2Policies)
	require.NoError(b, err)
	ps, err := New(cfgs, Builtin(), policy.Settings{}, Options{Meter: meter})
	require.NoError(b, err)
	traces := p2Traces(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	sampled := 0
	var tally *Tally
	if tallied {
		tally = &Tally{}
	}
	for i := 0; i < b.N; i++ {
		if d, _ := ps.DecideTally(ctx, traces[i%len(traces)], tally); d == policy.Sampled {
			sampled++
		}
		if tally != nil && i%benchRound == benchRound-1 {
			ps.Flush(ctx, tally) // as a decision round does
		}
	}
	if tally != nil {
		ps.Flush(ctx, tally)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "traces/s")
	b.ReportMetric(float64(sampled)/float64(b.N), "sampled/trace")
}

// BenchmarkDecideP2 is Decide over 10-span traces with the P2 mix: metrics
// off (no-op meter) and on (SDK meter provider, what a collector runs),
// counting each decision at once (Decide) or per round of benchRound
// decisions (the tally the processor's deciders use).
func BenchmarkDecideP2(b *testing.B) {
	b.Run("noop-meter", func(b *testing.B) { benchDecide(b, nil, false) })
	for _, tallied := range []bool{false, true} {
		name := "sdk-meter"
		if tallied {
			name = "sdk-meter-per-round"
		}
		b.Run(name, func(b *testing.B) {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			benchDecide(b, mp.Meter("bench"), tallied)
		})
	}
}

// BenchmarkPolicyRegex is a regex string_attribute policy on cached values.
func BenchmarkPolicyRegex(b *testing.B) {
	p := mustPolicy(b, one(`{name: s, type: string_attribute, string_attribute: {key: customer.tier, values: ["^ent"], enabled_regex_matching: true}}`), policy.Settings{})
	traces := p2Traces(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = p.Evaluate(ctx, traces[i%len(traces)])
	}
}
