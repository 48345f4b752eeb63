package hashring

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWeightOneIsNoWeight(t *testing.T) {
	eps := podIPs(40, 20)
	plain := New(eps)
	tests := map[string]map[string]int{
		"all one":          {eps[0]: 1, eps[1]: 1, eps[5]: 1},
		"below one is one": {eps[0]: 0, eps[1]: -7},
		"unknown endpoint": {"not-an-endpoint:4317": 9},
		"empty map":        {},
	}
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			r := New(eps, WithWeights(w))
			assert.Nil(t, r.nodeOwner)
			assert.Equal(t, layoutDigest(plain), layoutDigest(r))
		})
	}
}

func TestWeightsAreClamped(t *testing.T) {
	eps := gatewayNames(3)
	a := New(eps, WithWeights(map[string]int{eps[0]: MaxWeight}))
	b := New(eps, WithWeights(map[string]int{eps[0]: 1 << 30}))
	assert.Equal(t, layoutDigest(a), layoutDigest(b))
}

func TestWithWeightsCopiesTheMap(t *testing.T) {
	eps := gatewayNames(4)
	w := map[string]int{eps[0]: 3}
	opt := WithWeights(w)
	want := layoutDigest(New(eps, opt))
	w[eps[0]] = 1
	assert.Equal(t, want, layoutDigest(New(eps, opt)))
}

func TestWeightedShares(t *testing.T) {
	keys := millionKeys()
	eps := podIPs(41, 10)
	weights := map[string]int{}
	total := 0
	for i, e := range eps {
		weights[e] = 1 + i%4
		total += weights[e]
	}
	r := New(eps, WithWeights(weights))
	counts := loads(r, keys)
	for i, c := range counts {
		e := r.Endpoint(i)
		want := float64(len(keys)) * float64(weights[e]) / float64(total)
		assert.InDelta(t, 1, float64(c)/want, 0.03, "%s weight %d: %d keys, want %.0f", e, weights[e], c, want)
	}
}

func TestRaisingAWeightOnlyMovesKeysToIt(t *testing.T) {
	keys := testKeys(42, 200_000)
	eps := podIPs(42, 8)
	before := New(eps, WithWeights(map[string]int{eps[2]: 2}))
	after := New(eps, WithWeights(map[string]int{eps[2]: 3}))
	moved := 0
	for _, k := range keys {
		if b, a := before.Get(k), after.Get(k); a != b {
			moved++
			require.Equal(t, eps[2], a)
		}
	}
	// Exactly the share the endpoint gains moves: 3/10 - 2/9 of the keys.
	assert.InDelta(t, 3.0/10-2.0/9, float64(moved)/float64(len(keys)), 0.005)
}

func TestWeightedChoicesAreRemovalOrder(t *testing.T) {
	eps := podIPs(43, 5)
	weights := map[string]int{eps[0]: 3, eps[1]: 2, eps[3]: 5}
	r := New(eps, WithWeights(weights))
	all := r.Endpoints()
	subsets := make([]*Ring, 1<<len(all))
	for mask := range subsets {
		var sub []string
		for i, e := range all {
			if mask&(1<<i) != 0 {
				sub = append(sub, e)
			}
		}
		subsets[mask] = New(sub, WithWeights(weights))
	}
	dst := make([]int, 0, len(all))
	for _, key := range testKeys(43, 3000) {
		dst = r.AppendChoices(dst[:0], key, len(all))
		require.ElementsMatch(t, []int{0, 1, 2, 3, 4}, dst)
		mask := 1<<len(all) - 1
		for _, c := range dst {
			require.Equal(t, subsets[mask].Get(key), all[c], "key %x choices %v", key, dst)
			mask &^= 1 << c
		}
	}
}

func TestWeightedGolden(t *testing.T) {
	eps := []string{"10.0.0.2:4317", "10.0.0.3:4317", "10.0.0.1:4317"}
	r := New(eps, WithWeights(map[string]int{"10.0.0.1:4317": 2, "10.0.0.3:4317": 5}))
	assert.Equal(t, goldenWeightedDigest, layoutDigest(r))
}

const goldenWeightedDigest uint64 = 0x8eabfaa8f1f616c3
