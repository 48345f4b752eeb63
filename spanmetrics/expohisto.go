package spanmetrics

import "math"

// maxScale is the finest resolution an exponential histogram starts at; it
// coarsens (downscales) as soon as the observed range needs more than
// maxSize buckets, as the OpenTelemetry SDKs do.
const maxScale = 20

// expoHist is a base-2 exponential histogram of non-negative values.
// Bucket i at scale s holds values in (2^(i/2^s), 2^((i+1)/2^s)].
type expoHist struct {
	scale  int32
	offset int32
	counts []uint64 // positive buckets from offset
	zero   uint64
	count  uint64
	sum    float64
	min    float64
	max    float64
}

func newExpoHist() *expoHist { return &expoHist{scale: maxScale} }

// expoIndex maps v > 0 to its bucket at the given scale. Exact powers of two
// are handled with Frexp so that bucket boundaries are never off by one.
func expoIndex(v float64, scale int32) int32 {
	frac, exp := math.Frexp(v) // v = frac * 2^exp, frac in [0.5, 1)
	if frac == 0.5 {
		// v == 2^(exp-1) is the inclusive upper bound of the bucket below.
		if scale <= 0 {
			return ((int32(exp) - 1) >> -scale) - 1 + boolToInt32((int32(exp)-1)&((1<<-scale)-1) != 0)
		}
		return ((int32(exp) - 1) << scale) - 1
	}
	if scale <= 0 {
		return (int32(exp) - 1) >> -scale
	}
	return int32(math.Ceil(math.Log2(v)*math.Ldexp(1, int(scale)))) - 1
}

func boolToInt32(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

func (h *expoHist) observe(v float64, n uint64, maxSize int32) {
	if n == 0 {
		return
	}
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if h.count == 0 || v > h.max {
		h.max = v
	}
	h.count += n
	h.sum += v * float64(n)
	if !(v > 0) || math.IsInf(v, 0) {
		h.zero += n
		return
	}
	idx := expoIndex(v, h.scale)
	if len(h.counts) == 0 {
		h.offset = idx
		h.counts = append(h.counts[:0], n)
		return
	}
	lo, hi := h.offset, h.offset+int32(len(h.counts))-1
	lo, hi = min(lo, idx), max(hi, idx)
	if hi-lo+1 > maxSize {
		var c int32
		for (hi>>c)-(lo>>c)+1 > maxSize {
			c++
		}
		h.downscale(c)
		idx = expoIndex(v, h.scale)
	}
	switch {
	case idx < h.offset:
		grow := int(h.offset - idx)
		h.counts = append(h.counts, make([]uint64, grow)...)
		copy(h.counts[grow:], h.counts[:len(h.counts)-grow])
		clear(h.counts[:grow])
		h.offset = idx
	case idx >= h.offset+int32(len(h.counts)):
		need := int(idx-h.offset) + 1
		for len(h.counts) < need {
			h.counts = append(h.counts, 0)
		}
	}
	h.counts[idx-h.offset] += n
}

// downscale merges buckets so that the scale drops by c.
func (h *expoHist) downscale(c int32) {
	if c <= 0 {
		return
	}
	h.scale -= c
	if len(h.counts) == 0 {
		return
	}
	newOff := h.offset >> c
	last := int32(0)
	for i := range h.counts {
		j := ((h.offset + int32(i)) >> c) - newOff
		if j != int32(i) {
			h.counts[j] += h.counts[i]
			h.counts[i] = 0
		}
		last = j
	}
	h.counts = h.counts[:last+1]
	h.offset = newOff
}

func (h *expoHist) reset() {
	h.counts = h.counts[:0]
	h.zero, h.count, h.sum, h.min, h.max = 0, 0, 0, 0, 0
	h.offset = 0
	h.scale = maxScale
}
