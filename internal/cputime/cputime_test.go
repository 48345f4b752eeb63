package cputime

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestProcessGrowsWithWork(t *testing.T) {
	before, ok := Process()
	if !ok {
		t.Skip("not measured on " + runtime.GOOS)
	}
	x := 0
	for i := range 50_000_000 {
		x ^= i * i
	}
	after, _ := Process()
	assert.Greater(t, after, before, "spinning used CPU (%d)", x)
}
