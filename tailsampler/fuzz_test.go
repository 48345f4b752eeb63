package tailsampler

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// FuzzConsumeTraces feeds arbitrary pdata (decoded from fuzzed OTLP bytes)
// in two calls: nothing may panic, and nothing may be lost: at shutdown
// exactly the spans of kept traces (odd last ID byte) have been forwarded,
// the rest were decided not sampled.
func FuzzConsumeTraces(f *testing.F) {
	for _, buf := range fuzzBatches(f) {
		f.Add(buf, uint8(1))
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

// FuzzHandoffImport feeds arbitrary pdata to the buffer side of the
// handoff (the engine's Buffer: ImportDecision, then ImportTrace with an
// arbitrary first-seen): nothing panics and nothing is lost. At shutdown
// the spans of the trace whose decision was imported follow it, every
// other span follows the policy (odd last ID byte kept).
func FuzzHandoffImport(f *testing.F) {
	for _, buf := range fuzzBatches(f) {
		f.Add(buf, int64(-time.Second), uint8(1))
		f.Add(buf, int64(time.Hour), uint8(2))
	}
	f.Add([]byte{}, int64(math.MinInt64), uint8(0))
	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte, firstSeen int64, decide uint8) {
		td, err := u.UnmarshalTraces(data)
		if err != nil {
			return
		}
		h := newHarness(t, func(c *Config) {
			c.NumTraces = 1 << 16
			c.DecisionCache = DecisionCacheConfig{SampledCacheSize: 64, NonSampledCacheSize: 64}
			c.Policies = []PolicyCfg{{Name: "odd", Type: "keep_odd_id"}}
		})
		var decided pcommon.TraceID
		haveDecision := decide&1 == 1 && td.SpanCount() > 0
		sampled := decide&2 == 2
		want := 0
		first := true
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					id := sp.TraceID()
					if first {
						decided, first = id, false
					}
					switch {
					case haveDecision && id == decided:
						if sampled {
							want++
						}
					case id[15]%2 == 1:
						want++
					}
				}
			}
		}
		if haveDecision {
			h.p.ImportDecision(decided, sampled)
		}
		fs := h.clock.Now().Add(time.Duration(firstSeen))
		require.NoError(t, h.p.ImportTrace(context.Background(), td, fs))
		require.NoError(t, h.p.Shutdown(context.Background()))
		require.Equal(t, want, h.sink.SpanCount())
	})
}

// fuzzBatches are the seed inputs of the fuzz targets: encoded batches of
// whole and of interleaved traces.
func fuzzBatches(f *testing.F) [][]byte {
	var m ptrace.ProtoMarshaler
	var out [][]byte
	for _, spec := range []tracegen.Spec{
		{Traces: 3, SpansPerTrace: 2, TracesPerBatch: 3},
		{Traces: 6, SpansPerTrace: 3, TracesPerBatch: 3, Layout: tracegen.Interleaved},
	} {
		for _, b := range tracegen.Batches(spec) {
			buf, err := m.MarshalTraces(b)
			require.NoError(f, err)
			out = append(out, buf)
		}
	}
	return out
}
