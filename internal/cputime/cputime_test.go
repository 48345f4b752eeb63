package cputime

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestProcessAdvances: CPU time spent spinning shows, and never goes back.
func TestProcessAdvances(t *testing.T) {
	before, ok := Process()
	if !ok {
		t.Skip("CPU time is not measured on this platform")
	}
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i ^ (x >> 3)
	}
	after, _ := Process()
	if after <= before {
		t.Fatalf("CPU time did not advance: %d then %d (%d)", before, after, x)
	}
}
