package hashring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The balance and movement figures are deterministic for a fixed key set,
// so they are asserted here; their speed counterparts live in benchmarks.

const figureKeys = 1_000_000

var (
	figureKeysOnce sync.Once
	figureKeySet   [][]byte
)

// millionKeys is the shared key set of the figures: 1,000,000 random
// 16-byte trace IDs from internal/tracegen.
func millionKeys() [][]byte {
	figureKeysOnce.Do(func() { figureKeySet = testKeys(0x7e57, figureKeys) })
	return figureKeySet
}

// figureSets are the random endpoint sets the targets are asserted on:
// realistic pod IPs and StatefulSet-style names.
func figureSets(n int) map[string][]string {
	sets := map[string][]string{
		fmt.Sprintf("gateway-N.svc n=%d", n): gatewayNames(n),
	}
	for seed := uint64(1); seed <= 4; seed++ {
		sets[fmt.Sprintf("pod IPs #%d n=%d", seed, n)] = podIPs(seed*1000+uint64(n), n)
	}
	return sets
}

func TestBalance(t *testing.T) {
	keys := millionKeys()
	targets := []struct {
		n        int
		maxRatio float64
	}{
		{10, 1.05},
		{100, 1.10},
	}
	for _, tt := range targets {
		for name, eps := range figureSets(tt.n) {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := New(eps)
				counts := loads(r, keys)
				ratio := peakOverMean(counts)
				t.Logf("peak/mean %.4f", ratio)
				assert.LessOrEqual(t, ratio, tt.maxRatio)
				assert.Equal(t, len(keys), sumInts(counts))
			})
		}
	}
}

func TestMovementIsMinimal(t *testing.T) {
	keys := millionKeys()
	for _, n := range []int{10, 100} {
		for name, eps := range figureSets(n) {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(uint64(n), uint64(len(name))))
				added := fmt.Sprintf("10.250.%d.%d:4317", rng.IntN(256), 1+rng.IntN(254))
				require.NotContains(t, eps, added)
				gone := eps[rng.IntN(len(eps))]

				base := New(eps)
				grown := New(append(slices.Clone(eps), added))
				shrunk := New(slices.DeleteFunc(slices.Clone(eps), func(e string) bool { return e == gone }))
				movedAdd, movedRemove, strays := 0, 0, 0
				for _, k := range keys {
					b, g, s := base.Get(k), grown.Get(k), shrunk.Get(k)
					if b != g {
						movedAdd++
						// Minimal: a key only ever moves to the new endpoint.
						if g != added {
							strays++
						}
					}
					if b != s {
						movedRemove++
					}
					// Minimal: exactly the removed endpoint's keys move.
					if (b != s) != (b == gone) {
						strays++
					}
				}
				require.Zero(t, strays, "keys moved between endpoints that stayed")

				ideal := 1 / float64(n+1)
				got := float64(movedAdd) / float64(len(keys))
				t.Logf("add: moved %.5f = %.4f × ideal", got, got/ideal)
				assert.LessOrEqual(t, got, 1.10*ideal)

				ideal = 1 / float64(n)
				got = float64(movedRemove) / float64(len(keys))
				t.Logf("remove: moved %.5f = %.4f × ideal", got, got/ideal)
				assert.LessOrEqual(t, got, 1.10*ideal)
			})
		}
	}
}

func sumInts(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}
