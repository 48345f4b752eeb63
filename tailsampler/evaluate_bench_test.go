package tailsampler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
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

func p2Traces(b *testing.B) []*fakeTrace {
	batches := tracegen.Batches(tracegen.Spec{Traces: 1000, SpansPerTrace: 10, TracesPerBatch: 1, ErrorEvery: 50, SlowEvery: 20, SlowDuration: time.Second})
	out := make([]*fakeTrace, len(batches))
	for i, td := range batches {
		out[i] = newFakeTrace(td)
	}
	return out
}

func benchDecide(b *testing.B, set PolicySettings, tallied bool) {
	cfgs, err := loadPolicies(b, p2Policies)
	require.NoError(b, err)
	ps, err := newPolicySet(cfgs, builtinPolicyTypes(), set, false)
	require.NoError(b, err)
	traces := p2Traces(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	sampled := 0
	var tally *policyTally
	if tallied {
		tally = &policyTally{}
	}
	for i := 0; i < b.N; i++ {
		if d, _ := ps.decide(ctx, traces[i%len(traces)], tally); d == Sampled {
			sampled++
		}
		if tally != nil && i%maxRound == maxRound-1 {
			ps.flush(ctx, tally) // as a decision round does
		}
	}
	if tally != nil {
		ps.flush(ctx, tally)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "traces/s")
	b.ReportMetric(float64(sampled)/float64(b.N), "sampled/trace")
}

// BenchmarkDecideP2 is Decide over 10-span traces with the P2 mix: metrics
// off (no-op meter) and on (SDK meter provider, what a collector runs),
// counting each decision at once (Decide) or per round of maxRound
// decisions (the tally the processor's deciders use).
func BenchmarkDecideP2(b *testing.B) {
	b.Run("noop-meter", func(b *testing.B) { benchDecide(b, PolicySettings{}, false) })
	for _, tallied := range []bool{false, true} {
		name := "sdk-meter"
		if tallied {
			name = "sdk-meter-per-round"
		}
		b.Run(name, func(b *testing.B) {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			benchDecide(b, PolicySettings{Telemetry: component.TelemetrySettings{MeterProvider: mp}}, tallied)
		})
	}
}

// BenchmarkPolicyRegex is a regex string_attribute policy on cached values.
func BenchmarkPolicyRegex(b *testing.B) {
	p := mustPolicy(b, one(`{name: s, type: string_attribute, string_attribute: {key: customer.tier, values: ["^ent"], enabled_regex_matching: true}}`), PolicySettings{})
	traces := p2Traces(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = p.Evaluate(ctx, traces[i%len(traces)])
	}
}
