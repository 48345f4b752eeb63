package upstreamring

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func endpoints(n int) []string {
	eps := make([]string, n)
	for i := range eps {
		eps[i] = fmt.Sprintf("10.0.%d.%d:4317", i/250, i%250+1)
	}
	return eps
}

// owners counts the keys of 20,000 trace IDs per endpoint.
func owners(r *Ring) map[string]int {
	got := map[string]int{}
	for i := range 20000 {
		id := tracegen.TraceID(7, i)
		got[r.Get(id[:])]++
	}
	return got
}

func TestRing(t *testing.T) {
	tests := []struct {
		name       string
		endpoints  []string
		wantPoints int
	}{
		{"empty", nil, 0},
		{"one", endpoints(1), 200},
		{"three", endpoints(3), 600},
		{"duplicates count once", append(endpoints(3), endpoints(3)...), 600},
		{"ten", endpoints(10), 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.endpoints)
			// Collisions among a few thousand points on 131,071 positions
			// are settled by probing; none is dropped at these sizes.
			assert.Equal(t, tt.wantPoints, r.Points())
			got := owners(r)
			if len(tt.endpoints) == 0 {
				assert.Equal(t, map[string]int{"": 20000}, got)
				return
			}
			assert.Len(t, got, min(len(tt.endpoints), tt.wantPoints/200), "every endpoint owns keys")
			for ep := range got {
				assert.Contains(t, tt.endpoints, ep)
			}
		})
	}
}

func TestOrderDoesNotMatter(t *testing.T) {
	eps := endpoints(5)
	rev := []string{eps[4], eps[3], eps[2], eps[1], eps[0]}
	a, b := New(eps), New(rev)
	for i := range 5000 {
		id := tracegen.TraceID(3, i)
		require.Equal(t, a.Get(id[:]), b.Get(id[:]))
	}
}

// Removing an endpoint moves only the keys it owned: the property that
// makes it a consistent-hash ring.
func TestRemovalMovesOnlyTheRemovedEndpointsKeys(t *testing.T) {
	eps := endpoints(4)
	before, after := New(eps), New(eps[:3])
	moved := 0
	for i := range 20000 {
		id := tracegen.TraceID(11, i)
		was, is := before.Get(id[:]), after.Get(id[:])
		if was == eps[3] {
			moved++
			continue
		}
		require.Equal(t, was, is, "key %d moved without its owner leaving", i)
	}
	assert.InDelta(t, 5000, moved, 1500, "about a quarter of the keys were on the removed endpoint")
}

func FuzzRing(f *testing.F) {
	f.Add("10.0.0.1:4317", "10.0.0.2:4317", []byte{1, 2, 3})
	f.Add("", "", []byte{})
	f.Fuzz(func(t *testing.T, a, b string, key []byte) {
		r := New([]string{a, b})
		got := r.Get(key)
		if got != a && got != b {
			t.Fatalf("Get = %q, not one of the endpoints", got)
		}
		if got != New([]string{b, a}).Get(key) {
			t.Fatal("the ring depends on the endpoints' order")
		}
	})
}
