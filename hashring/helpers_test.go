package hashring

import (
	"fmt"
	"math/rand/v2"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// testKeys returns count 16-byte trace IDs from the shared workload
// generator, so every figure in the README is reproducible.
func testKeys(seed uint64, count int) [][]byte {
	buf := make([]byte, 16*count)
	keys := make([][]byte, count)
	for i := range keys {
		id := tracegen.TraceID(seed, i)
		k := buf[16*i : 16*i+16 : 16*i+16]
		copy(k, id[:])
		keys[i] = k
	}
	return keys
}

// podIPs returns n distinct realistic pod endpoints 10.x.y.z:4317.
func podIPs(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 0x706f64))
	seen := make(map[string]struct{}, n)
	out := make([]string, 0, n)
	for len(out) < n {
		e := fmt.Sprintf("10.%d.%d.%d:4317", rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
		if _, dup := seen[e]; dup {
			continue
		}
		seen[e] = struct{}{}
		out = append(out, e)
	}
	return out
}

// gatewayNames returns StatefulSet-style names gateway-0..gateway-(n-1).
func gatewayNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("gateway-%d.svc:4317", i)
	}
	return out
}

// loads counts the keys each endpoint index owns.
func loads(r *Ring, keys [][]byte) []int {
	c := make([]int, r.Len())
	for _, k := range keys {
		c[r.Index(k)]++
	}
	return c
}

// peakOverMean is the busiest endpoint's load over the mean load.
func peakOverMean(counts []int) float64 {
	peak, total := 0, 0
	for _, c := range counts {
		peak = max(peak, c)
		total += c
	}
	return float64(peak) * float64(len(counts)) / float64(total)
}
