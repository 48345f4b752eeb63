package hashring

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// FuzzRing feeds odd endpoint sets (the input split on '|', so empty,
// duplicate, binary and huge names all occur) and odd keys, and checks the
// invariants that must hold for any input: order and duplicates do not
// change the mapping, lookups agree with each other, and the choices are
// distinct indices whose runner-up is the owner after a real removal, with
// and without weights.
func FuzzRing(f *testing.F) {
	f.Add("10.0.0.1:4317|10.0.0.2:4317|10.0.0.3:4317", []byte("trace"), uint64(1))
	f.Add("a|a|a|b", []byte{}, uint64(2))
	f.Add("", []byte("k"), uint64(3))
	f.Add("|||", []byte(nil), uint64(4))
	f.Add("gateway-0.svc:4317|gateway-1.svc:4317|\x00\xff|[::1]:4317|ü", []byte{0, 0, 0}, uint64(5))
	f.Add(strings.Repeat("x", 5000)+"|y", []byte("0123456789abcdef"), uint64(6))
	f.Fuzz(func(t *testing.T, joined string, key []byte, seed uint64) {
		eps := strings.Split(joined, "|")
		if len(eps) > 64 {
			eps = eps[:64]
		}
		// Odd seeds also weigh the first endpoint, including weights out of
		// range.
		var opts []Option
		if seed&1 == 1 {
			opts = append(opts, WithWeights(map[string]int{eps[0]: int(int8(seed >> 8))}))
		}
		r := New(eps, opts...)

		want := slices.Compact(slices.Sorted(slices.Values(slices.DeleteFunc(slices.Clone(eps), func(e string) bool { return e == "" }))))
		if !slices.Equal(r.Endpoints(), want) {
			t.Fatalf("Endpoints() = %q, want %q", r.Endpoints(), want)
		}

		shuffled := slices.Concat(eps, eps[:len(eps)/2])
		rand.New(rand.NewPCG(seed, 0)).Shuffle(len(shuffled), func(i, j int) {
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		})
		other := New(shuffled, opts...)
		if got, exp := other.Get(key), r.Get(key); got != exp {
			t.Fatalf("permuted set maps %x to %q, want %q", key, got, exp)
		}

		i := r.Index(key)
		if r.Len() == 0 {
			if i != -1 || r.Get(key) != "" || len(r.AppendChoices(nil, key, 3)) != 0 {
				t.Fatalf("empty ring answered %d %q", i, r.Get(key))
			}
			return
		}
		if i < 0 || i >= r.Len() || r.Endpoint(i) != r.Get(key) || r.GetString(string(key)) != r.Get(key) {
			t.Fatalf("lookups disagree: Index=%d Get=%q", i, r.Get(key))
		}
		k := int(seed%5) + 1
		choices := r.AppendChoices(nil, key, k)
		if len(choices) != min(k, r.Len()) || choices[0] != i {
			t.Fatalf("choices %v for k=%d, Index=%d", choices, k, i)
		}
		seen := map[int]bool{}
		for _, c := range choices {
			if c < 0 || c >= r.Len() || seen[c] {
				t.Fatalf("bad choices %v", choices)
			}
			seen[c] = true
		}
		all := r.AppendChoices(nil, key, r.Len())
		if !slices.Equal(all[:len(choices)], choices) {
			t.Fatalf("AppendChoices k=%d gave %v, k=n gave %v", k, choices, all)
		}
		// IndexWhere returns the first endpoint, in that order, whose bit
		// of the seed is set.
		up := func(i int) bool { return seed>>(i%64)&1 == 1 }
		firstUp := -1
		for _, c := range all {
			if up(c) {
				firstUp = c
				break
			}
		}
		if got := r.IndexWhere(key, up); got != firstUp {
			t.Fatalf("IndexWhere = %d, want %d (order %v)", got, firstUp, all)
		}
		if len(choices) > 1 {
			rest := slices.DeleteFunc(r.Endpoints(), func(e string) bool { return e == r.Endpoint(i) })
			if got := New(rest, opts...).Get(key); got != r.Endpoint(choices[1]) {
				t.Fatalf("runner-up %q, owner after removal %q", r.Endpoint(choices[1]), got)
			}
		}
	})
}
