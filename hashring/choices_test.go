package hashring

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAppendChoicesIsRemovalOrder checks the contract literally on small
// sets: with a ring built for every subset, choice i+1 of every key is its
// owner in the ring built without choices 0..i.
func TestAppendChoicesIsRemovalOrder(t *testing.T) {
	sets := map[string][]string{
		"n=2 pods":     podIPs(21, 2),
		"n=5 gateways": gatewayNames(5),
		"n=6 pods":     podIPs(22, 6),
	}
	keys := testKeys(21, 3000)
	for name, eps := range sets {
		t.Run(name, func(t *testing.T) {
			r := New(eps)
			n := r.Len()
			all := r.Endpoints()
			// subsets[mask] is the ring of the endpoints whose bit is set.
			subsets := make([]*Ring, 1<<n)
			for mask := range subsets {
				var sub []string
				for i, e := range all {
					if mask&(1<<i) != 0 {
						sub = append(sub, e)
					}
				}
				subsets[mask] = New(sub)
			}
			dst := make([]int, 0, n)
			for _, key := range keys {
				dst = r.AppendChoices(dst[:0], key, n)
				require.Len(t, dst, n)
				mask := 1<<n - 1
				for _, c := range dst {
					require.Equal(t, subsets[mask].Get(key), all[c], "key %x choices %v", key, dst)
					mask &^= 1 << c
				}
			}
		})
	}
}

// TestRunnerUpIsOwnerAfterRemoval checks choice 1 against a real removal of
// each endpoint of a larger set.
func TestRunnerUpIsOwnerAfterRemoval(t *testing.T) {
	eps := podIPs(23, 40)
	r := New(eps)
	keys := testKeys(23, 20_000)
	without := make([]*Ring, r.Len())
	for i, e := range r.Endpoints() {
		without[i] = New(slices.DeleteFunc(r.Endpoints(), func(x string) bool { return x == e }))
	}
	dst := make([]int, 0, 2)
	for _, key := range keys {
		dst = r.AppendChoices(dst[:0], key, 2)
		require.Equal(t, without[dst[0]].Get(key), r.Endpoint(dst[1]))
	}
}

func TestAppendChoicesBounds(t *testing.T) {
	r := New(gatewayNames(4))
	key := []byte("service-a")
	tests := []struct {
		name    string
		dst     []int
		k       int
		wantLen int
	}{
		{"k=0 appends nothing", []int{9}, 0, 1},
		{"negative k appends nothing", []int{9}, -3, 1},
		{"k=1", nil, 1, 1},
		{"k=n", nil, 4, 4},
		{"k>n is capped at n", []int{9}, 10, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.AppendChoices(tt.dst, key, tt.k)
			require.Len(t, got, tt.wantLen)
			if len(tt.dst) > 0 {
				assert.Equal(t, 9, got[0], "existing elements are kept")
			}
			added := got[len(tt.dst):]
			seen := map[int]bool{}
			for _, c := range added {
				assert.False(t, seen[c], "duplicate choice %d in %v", c, added)
				seen[c] = true
				assert.True(t, c >= 0 && c < r.Len())
			}
		})
	}
}

func TestAppendChoicesAllEndpointsIsAPermutation(t *testing.T) {
	r := New(podIPs(30, 25))
	for _, key := range testKeys(30, 200) {
		got := r.AppendChoices(make([]int, 0, 25), key, 25)
		sorted := slices.Sorted(slices.Values(got))
		for i, v := range sorted {
			require.Equal(t, i, v)
		}
	}
}

// TestChoicePathsAgree checks that the per-choice passes (k <= 4) and the
// sorted path (k > 4) produce the same order, with and without weights.
func TestChoicePathsAgree(t *testing.T) {
	eps := podIPs(31, 30)
	rings := map[string]*Ring{
		"unweighted": New(eps),
		"weighted":   New(eps, WithWeights(map[string]int{eps[0]: 4, eps[7]: 2, eps[29]: 9})),
	}
	for name, r := range rings {
		t.Run(name, func(t *testing.T) {
			for _, key := range testKeys(31, 500) {
				all := r.AppendChoices(nil, key, r.Len())
				for k := 1; k <= 6; k++ {
					require.Equal(t, all[:k], r.AppendChoices(nil, key, k), "k=%d", k)
				}
			}
		})
	}
}

func TestIndexWhere(t *testing.T) {
	eps := podIPs(32, 12)
	rings := map[string]*Ring{
		"unweighted": New(eps),
		"weighted":   New(eps, WithWeights(map[string]int{eps[3]: 3, eps[5]: 2})),
	}
	rng := rand.New(rand.NewPCG(32, 32))
	for name, r := range rings {
		t.Run(name, func(t *testing.T) {
			for _, key := range testKeys(32, 2000) {
				order := r.AppendChoices(nil, key, r.Len())
				avail := make([]bool, r.Len())
				for i := range avail {
					avail[i] = rng.IntN(3) == 0
				}
				want := -1
				for _, c := range order {
					if avail[c] {
						want = c
						break
					}
				}
				var asked []int
				got := r.IndexWhere(key, func(i int) bool {
					asked = append(asked, i)
					return avail[i]
				})
				require.Equal(t, want, got)
				// ok is called in preference order, once each, up to the hit.
				require.Equal(t, order[:len(asked)], asked)
			}
		})
	}
	assert.Equal(t, -1, New(nil).IndexWhere([]byte("k"), func(int) bool { return true }))
	one := New([]string{"a"})
	assert.Equal(t, 0, one.IndexWhere([]byte("k"), func(int) bool { return true }))
	assert.Equal(t, -1, one.IndexWhere([]byte("k"), func(int) bool { return false }))
}
