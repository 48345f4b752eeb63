package spanmetrics

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAdjustedCount(t *testing.T) {
	tests := []struct {
		ts    string
		count float64
		ok    bool
	}{
		{"", 1, false},
		{"vendor=x", 1, false},
		{"ot=rv:abcdef", 1, false},
		{"ot=th:0", 1, true},
		{"ot=th:8", 2, true},
		{"ot=th:c", 4, true},
		{"ot=th:e", 8, true},
		{"a=b, ot=rv:1234;th:c ,x=y", 4, true},
		{"ot=th:fd70a3d70a3d71", 100.00000000000003, true},
		{"ot=th:", 1, false},
		{"ot=th:C", 1, false},
		{"ot=th:123456789abcdef", 1, false},
		{"ot=th:zz", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.ts, func(t *testing.T) {
			c, ok := adjustedCount(tt.ts)
			assert.Equal(t, tt.ok, ok)
			assert.InDelta(t, tt.count, c, 1e-9)
		})
	}
}

func TestStochasticRoundingIsUnbiased(t *testing.T) {
	r := rng(42)
	var sum uint64
	const n = 200_000
	for i := 0; i < n; i++ {
		sum += r.round(2.5)
	}
	assert.InDelta(t, 2.5, float64(sum)/n, 0.01)
	assert.Equal(t, uint64(3), r.round(3))
}

func FuzzAdjustedCount(f *testing.F) {
	for _, s := range []string{"", "ot=th:8", "a=b,ot=th:c;rv:00", "ot=th:fffffffffffff", "ot=;;th:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := adjustedCount(s)
		if !ok && c != 1 {
			t.Fatalf("unadjusted count %v", c)
		}
		if c < 1 || math.IsNaN(c) || math.IsInf(c, 0) {
			t.Fatalf("count %v for %q", c, s)
		}
	})
}
