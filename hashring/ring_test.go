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

// sameMapping asserts that a and b route every key of keys identically.
func sameMapping(t *testing.T, a, b *Ring, keys [][]byte) {
	t.Helper()
	require.Equal(t, a.Endpoints(), b.Endpoints())
	for _, k := range keys {
		if ga, gb := a.Get(k), b.Get(k); ga != gb {
			require.Failf(t, "rings disagree", "key %x: %q vs %q", k, ga, gb)
		}
	}
}

func TestNewNormalisesTheSet(t *testing.T) {
	keys := testKeys(7, 20_000)
	base := podIPs(3, 12)
	ref := New(base)
	shuffled := slices.Clone(base)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	reversed := slices.Clone(base)
	slices.Reverse(reversed)
	tests := []struct {
		name string
		eps  []string
	}{
		{"shuffled", shuffled},
		{"reversed", reversed},
		{"duplicated", append(slices.Clone(base), base[:5]...)},
		{"every endpoint three times", slices.Concat(reversed, base, shuffled)},
		{"empty strings ignored", append([]string{"", base[0]}, append(slices.Clone(base[1:]), "")...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.eps)
			assert.Equal(t, len(base), r.Len())
			sameMapping(t, ref, r, keys)
		})
	}
}

func TestNewDoesNotRetainOrModifyInput(t *testing.T) {
	in := []string{"c:1", "a:1", "b:1", "a:1"}
	r := New(in)
	assert.Equal(t, []string{"c:1", "a:1", "b:1", "a:1"}, in)
	eps := r.Endpoints()
	assert.Equal(t, []string{"a:1", "b:1", "c:1"}, eps)
	eps[0] = "mutated"
	assert.Equal(t, "a:1", r.Endpoint(0), "Endpoints must return a copy")
}

func TestEmptyRing(t *testing.T) {
	for _, r := range []*Ring{New(nil), New([]string{}), New([]string{"", ""}), nil} {
		assert.Equal(t, 0, r.Len())
		assert.Empty(t, r.Endpoints())
		assert.Equal(t, "", r.Get([]byte("k")))
		assert.Equal(t, "", r.GetString("k"))
		assert.Equal(t, -1, r.Index([]byte("k")))
		assert.Equal(t, -1, r.IndexString("k"))
		assert.Equal(t, "", r.Endpoint(0))
		dst := []int{42}
		assert.Equal(t, []int{42}, r.AppendChoices(dst, []byte("k"), 3))
	}
}

func TestSingleEndpoint(t *testing.T) {
	r := New([]string{"only:4317", "only:4317"})
	for _, k := range testKeys(1, 1000) {
		require.Equal(t, "only:4317", r.Get(k))
		require.Equal(t, []int{0}, r.AppendChoices(nil, k, 3))
	}
	assert.Equal(t, "only:4317", r.Get(nil))
}

func TestEndpointOutOfRange(t *testing.T) {
	r := New([]string{"b", "a"})
	tests := []struct {
		i    int
		want string
	}{{-1, ""}, {0, "a"}, {1, "b"}, {2, ""}}
	for _, tt := range tests {
		assert.Equal(t, tt.want, r.Endpoint(tt.i), "Endpoint(%d)", tt.i)
	}
}

func TestLookupsAgree(t *testing.T) {
	r := New(gatewayNames(37))
	for _, k := range testKeys(5, 10_000) {
		i := r.Index(k)
		require.GreaterOrEqual(t, i, 0)
		require.Equal(t, r.Endpoint(i), r.Get(k))
		require.Equal(t, i, r.IndexString(string(k)))
		require.Equal(t, r.Get(k), r.GetString(string(k)))
		require.Equal(t, i, r.AppendChoices(nil, k, 1)[0])
	}
}

// TestBuildMatchesDefinition checks the build's exponential race against
// the definition it shortcuts: a slot's owner is the endpoint of least
// preference over all endpoints.
func TestBuildMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{2, 3, 7, 10, 64, 100, 1000} {
		r := New(podIPs(uint64(n), n))
		for range 3000 {
			slot := uint32(rng.IntN(numSlots))
			b := int(slot >> blockBits)
			want := r.slowPreference(r.blockKeys[b*n:(b+1)*n], slot&blockMask)
			got := r.indexOfHash(uint64(slot) << (64 - slotBits))
			require.Equal(t, int(uint32(want)), got, "n=%d slot=%d", n, slot)
		}
	}
}

func TestLargeSetUsesWideTable(t *testing.T) {
	n := 1<<16 + 3
	eps := make([]string, n)
	for i := range eps {
		eps[i] = fmt.Sprintf("10.%d.%d.%d:4317", i>>16, i>>8&255, i&255)
	}
	r := New(eps)
	require.Equal(t, n, r.Len())
	require.Nil(t, r.owners16)
	counts := make([]int, n)
	for _, k := range testKeys(2, 200_000) {
		counts[r.Index(k)]++
	}
	// Indices above 65535 must be reachable, which a 16-bit table could not do.
	high := 0
	for _, c := range counts[1<<16:] {
		high += c
	}
	assert.Positive(t, high)
}

func TestConcurrentLookups(t *testing.T) {
	r := New(podIPs(4, 20))
	keys := testKeys(4, 5000)
	want := make([]string, len(keys))
	for i, k := range keys {
		want[i] = r.Get(k)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			dst := make([]int, 0, 3)
			for i, k := range keys {
				if r.Get(k) != want[i] {
					errs <- "Get disagrees"
					return
				}
				dst = r.AppendChoices(dst[:0], k, 3)
				if r.Endpoint(dst[0]) != want[i] || g < 0 {
					errs <- "AppendChoices disagrees"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLookupsDoNotAllocate(t *testing.T) {
	r := New(podIPs(6, 100))
	key := testKeys(6, 1)[0]
	skey := string(key)
	dst := make([]int, 0, 100)
	owner := r.Index(key)
	notOwner := func(i int) bool { return i != owner }
	rare := func(i int) bool { return i%7 == 3 }
	tests := []struct {
		name   string
		f      func()
		pooled bool // uses a sync.Pool buffer: steady state only
	}{
		{"Get", func() { _ = r.Get(key) }, false},
		{"GetString", func() { _ = r.GetString(skey) }, false},
		{"Index", func() { _ = r.Index(key) }, false},
		{"IndexString", func() { _ = r.IndexString(skey) }, false},
		{"AppendChoices k=4", func() { dst = r.AppendChoices(dst[:0], key, 4) }, false},
		{"AppendChoicesString k=4", func() { dst = r.AppendChoicesString(dst[:0], skey, 4) }, false},
		{"IndexWhere one step", func() { _ = r.IndexWhere(key, notOwner) }, false},
		{"AppendChoices k=n", func() { dst = r.AppendChoices(dst[:0], key, 100) }, true},
		{"IndexWhere long walk", func() { _ = r.IndexWhere(key, rare) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.pooled && raceEnabled {
				t.Skip("sync.Pool drops buffers at random under -race")
			}
			assert.Zero(t, testing.AllocsPerRun(100, tt.f))
		})
	}
}
