package tailsampler

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/resolver"
)

// BenchmarkConsumeHandoff is ConsumeTraces with and without the handoff
// block in the steady state: the ring is this gateway alone, so Route
// checks every span against the ring and returns the batch untouched.
func BenchmarkConsumeHandoff(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			sink := &countingSink{}
			f := NewFactory()
			cfg := f.CreateDefaultConfig().(*Config)
			cfg.DecisionWait = time.Second
			cfg.NumTraces = 200_000
			cfg.Policies = []PolicyCfg{{Name: "all", Type: "always_sample"}}
			if on {
				hc := cfg.Handoff.GetOrInsertDefault()
				hc.Endpoint = "127.0.0.1:4317"
				hc.Resolver = resolver.Config{Static: &resolver.StaticConfig{Hostnames: []string{"127.0.0.1:4317"}}}
				hc.Listen.NetAddr.Endpoint = "127.0.0.1:0"
			}
			p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(componentType), cfg, sink)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			batches := tracegen.Batches(tracegen.Spec{Traces: 20_000, SpansPerTrace: 10, TracesPerBatch: 100})
			for _, td := range batches {
				td.MarkReadOnly() // reused across iterations
			}
			spans := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				td := batches[i%len(batches)]
				spans += td.SpanCount()
				if err := p.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer() // the final drain is not ingest
			b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
			if err := p.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}
