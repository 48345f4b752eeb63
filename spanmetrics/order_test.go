package spanmetrics

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestOrderIsKeptAcrossFlushes checks the incrementally kept output order
// (flushBuffers.order, merged rather than re-sorted each flush): over many
// flushes with series created in between and series expiring, every flush
// emits resources in first-seen order and points in series creation order,
// emits exactly the series due, and the order keeps no removed series.
func TestOrderIsKeptAcrossFlushes(t *testing.T) {
	for _, temporality := range []string{"AGGREGATION_TEMPORALITY_CUMULATIVE", "AGGREGATION_TEMPORALITY_DELTA"} {
		t.Run(temporality, func(t *testing.T) {
			cfg := seedConfig()
			cfg.Histogram.Disable = true
			cfg.AggregationTemporality = temporality
			cfg.SeriesExpiration = 25 * time.Second
			h := newHarness(t, cfg)
			rng := rand.New(rand.NewPCG(1, 2))

			type key struct{ res, name int }
			rank := map[key]int{}       // creation rank of live series
			lastSeen := map[key]int{}   // round of the last update
			resRank := map[string]int{} // first-seen rank of resources
			next := 0
			for round := 0; round < 30; round++ {
				at := t0.Add(time.Duration(round) * 10 * time.Second)
				td := ptrace.NewTraces()
				touched := map[key]bool{}
				for r := 0; r < 4; r++ {
					var spans []spanSpec
					for n := 0; n < 12; n++ {
						if rng.IntN(3) != 0 {
							continue
						}
						k := key{r, n}
						touched[k] = true
						if _, ok := rank[k]; !ok {
							rank[k] = next
							next++
						}
						lastSeen[k] = round
						spans = append(spans, spanSpec{name: fmt.Sprintf("op-%d", n), kind: ptrace.SpanKindServer})
					}
					if len(spans) > 0 {
						svc := fmt.Sprintf("svc-%d", r)
						if _, ok := resRank[svc]; !ok {
							resRank[svc] = len(resRank)
						}
						addResource(td, map[string]any{"service.name": svc}, spans...)
					}
				}
				h.consume(t, at, td)

				want := 0
				for k := range rank {
					if temporality == "AGGREGATION_TEMPORALITY_CUMULATIVE" || touched[k] {
						want++
					}
				}
				got := flatten(h.flush(t, at))
				require.Len(t, got, want, "round %d", round)
				prevRes, prevRank := -1, -1
				for _, p := range got {
					svc := p.Resource["service.name"].(string)
					var r, n int
					_, err := fmt.Sscanf(svc, "svc-%d", &r)
					require.NoError(t, err)
					_, err = fmt.Sscanf(p.Attrs["span.name"].(string), "op-%d", &n)
					require.NoError(t, err)
					if rr := resRank[svc]; rr != prevRes {
						require.Greater(t, rr, prevRes, "round %d: resources out of order", round)
						prevRes, prevRank = rr, -1
					}
					sr, ok := rank[key{r, n}]
					require.True(t, ok, "round %d: %s/op-%d emitted but not live", round, svc, n)
					require.Greater(t, sr, prevRank, "round %d: series out of creation order", round)
					prevRank = sr
				}
				// Series 25s or more without spans were emitted (cumulative)
				// one last time and are gone now; a later span re-creates them.
				for k, ls := range lastSeen {
					if (round-ls)*10 >= 25 {
						delete(rank, k)
						delete(lastSeen, k)
					}
				}
				assert.Equal(t, int64(len(rank)), h.c.activeSeries(), "round %d", round)
				assert.Len(t, h.c.flushBuf.order, len(rank), "round %d: order keeps removed series", round)
			}
		})
	}
}
