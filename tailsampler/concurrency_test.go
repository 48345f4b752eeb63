package tailsampler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// Many goroutines feed interleaved batches while deciders run: every span
// of a kept trace arrives exactly once, none of a dropped one (run -race).
func TestConcurrentIngestAndDecisions(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.NumShards = 4
		c.NumTraces = 300 // forces early decisions too
		c.Policies = []PolicyCfg{{Name: "odd", Type: "keep_odd_id"}}
	})
	spec := tracegen.Spec{Traces: 2000, SpansPerTrace: 5, TracesPerBatch: 50, Layout: tracegen.Interleaved}
	batches := tracegen.Batches(spec)
	want := 0
	for i := 0; i < spec.Traces; i++ {
		if tracegen.TraceID(0, i)[15]%2 == 1 {
			want += spec.SpansPerTrace
		}
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				assert.NoError(t, h.p.ConsumeTraces(context.Background(), batches[i]))
			}
		}()
	}
	stop := make(chan struct{})
	var tick sync.WaitGroup
	tick.Add(1)
	go func() {
		defer tick.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				h.clock.Advance(5 * time.Millisecond)
			}
		}
	}()
	for i := range batches {
		work <- i
	}
	close(work)
	wg.Wait()
	close(stop)
	tick.Wait()
	require.NoError(t, h.p.Shutdown(context.Background()))

	seen := map[[24]byte]int{}
	for _, td := range h.sink.AllTraces() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					sp := spans.At(k)
					id := sp.TraceID()
					require.Equal(t, byte(1), id[15]%2, "a span of a dropped trace was forwarded")
					var key [24]byte
					copy(key[:16], id[:])
					sid := sp.SpanID()
					copy(key[16:], sid[:])
					seen[key]++
				}
			}
		}
	}
	assert.Len(t, seen, want)
	for _, n := range seen {
		require.Equal(t, 1, n, "a span was forwarded twice")
	}
}
