package tailsampler

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// FuzzConsumeTraces feeds arbitrary pdata (decoded from fuzzed OTLP bytes)
// in two calls: nothing may panic, and nothing may be lost: at shutdown
// exactly the spans of kept traces (odd last ID byte) have been forwarded,
// the rest were decided not sampled.
func FuzzConsumeTraces(f *testing.F) {
	var m ptrace.ProtoMarshaler
	for _, spec := range []tracegen.Spec{
		{Traces: 3, SpansPerTrace: 2, TracesPerBatch: 3},
		{Traces: 6, SpansPerTrace: 3, TracesPerBatch: 3, Layout: tracegen.Interleaved},
	} {
		for _, b := range tracegen.Batches(spec) {
			buf, err := m.MarshalTraces(b)
			require.NoError(f, err)
			f.Add(buf, uint8(1))
		}
	}
	f.Add([]byte{}, uint8(0))
	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		td, err := u.UnmarshalTraces(data)
		if err != nil {
			return
		}
		want := 0
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					if id := spans.At(k).TraceID(); id[15]%2 == 1 {
						want++
					}
				}
			}
		}
		h := newHarness(t, func(c *Config) {
			c.NumTraces = 3 // small: overflow paths run too
			c.DecisionCache = DecisionCacheConfig{SampledCacheSize: 64, NonSampledCacheSize: 64}
			c.Policies = []PolicyCfg{{Name: "odd", Type: "keep_odd_id"}}
		})
		// Feed it twice when asked, so the second copy meets decided traces
		// (cache path) or pending ones.
		in := ptrace.NewTraces()
		td.CopyTo(in)
		require.NoError(t, h.p.ConsumeTraces(context.Background(), in))
		if split%2 == 1 {
			again := ptrace.NewTraces()
			td.CopyTo(again)
			require.NoError(t, h.p.ConsumeTraces(context.Background(), again))
			want *= 2
		}
		require.NoError(t, h.p.Shutdown(context.Background()))
		require.Equal(t, want, h.sink.SpanCount())
	})
}
