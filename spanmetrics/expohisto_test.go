package spanmetrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lower and upper bounds of bucket i at scale s, computed independently.
func bucketBounds(i, s int32) (float64, float64) {
	return math.Exp2(math.Ldexp(float64(i), int(-s))), math.Exp2(math.Ldexp(float64(i+1), int(-s)))
}

func TestExpoIndexBoundaries(t *testing.T) {
	for _, s := range []int32{-3, -1, 0, 1, 3, 8, 20} {
		for _, v := range []float64{1, 2, 4, 0.5, 0.25, 1024, 3, 1.5, 7.3, 1e-6, 1e6} {
			i := expoIndex(v, s)
			lo, hi := bucketBounds(i, s)
			assert.True(t, v > lo*(1-1e-12) && v <= hi*(1+1e-12), "v=%v s=%d i=%d (%v,%v]", v, s, i, lo, hi)
		}
		// Exact powers of two are inclusive upper bounds.
		if s <= 0 {
			assert.Equal(t, expoIndex(math.Ldexp(1, 1<<-s), s), int32(0), "scale %d", s)
		} else {
			assert.Equal(t, int32(-1), expoIndex(1, s))
		}
	}
}

func TestExpoHistKeepsCountsAcrossDownscale(t *testing.T) {
	h := newExpoHist()
	r := rand.New(rand.NewPCG(1, 2))
	var n uint64
	for i := 0; i < 10_000; i++ {
		v := math.Exp(r.Float64()*20 - 5)
		h.observe(v, 2, 20)
		n += 2
	}
	require.LessOrEqual(t, len(h.counts), 20)
	var got uint64
	for _, c := range h.counts {
		got += c
	}
	assert.Equal(t, n, got)
	assert.Equal(t, n, h.count)
	// Every value must still fall in its bucket at the final scale.
	r = rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100; i++ {
		v := math.Exp(r.Float64()*20 - 5)
		idx := expoIndex(v, h.scale)
		assert.True(t, idx >= h.offset && idx < h.offset+int32(len(h.counts)))
	}
}
