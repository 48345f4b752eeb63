package ratelog

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name     string
		interval time.Duration
		at       []time.Duration // offsets from t0
		wantOK   []bool
		wantHeld []int64
	}{
		{"first always passes", time.Second, []time.Duration{0}, []bool{true}, []int64{0}},
		{"within interval held", time.Second, []time.Duration{0, 100 * time.Millisecond, 999 * time.Millisecond}, []bool{true, false, false}, []int64{0, 0, 0}},
		{"next interval reports held", time.Second, []time.Duration{0, 10, 20, time.Second}, []bool{true, false, false, true}, []int64{0, 0, 0, 2}},
		{"zero interval passes all", 0, []time.Duration{0, 0, 0}, []bool{true, true, true}, []int64{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLimiter(tt.interval)
			for i, d := range tt.at {
				ok, held := l.Allow(t0.Add(d))
				assert.Equal(t, tt.wantOK[i], ok, "event %d", i)
				assert.Equal(t, tt.wantHeld[i], held, "event %d", i)
			}
		})
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(time.Hour)
	now := time.Unix(1000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed, reported := 0, int64(0)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if ok, held := l.Allow(now); ok {
					mu.Lock()
					passed++
					reported += held
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, passed)
	// The winner may already report events held back while it won; none
	// is lost: every held-back event is reported exactly once.
	ok, held := l.Allow(now.Add(time.Hour))
	assert.True(t, ok)
	assert.Equal(t, int64(799), reported+held)
}

func TestLogger(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	r := New(zap.New(core), time.Minute)
	t0 := time.Unix(1000, 0)
	r.WarnAt(t0, "bad span", zap.Int("n", 1))
	r.WarnAt(t0.Add(time.Second), "bad span", zap.Int("n", 2))
	r.WarnAt(t0.Add(2*time.Second), "bad span", zap.Int("n", 3))
	r.WarnAt(t0.Add(time.Minute), "bad span", zap.Int("n", 4))
	entries := logs.All()
	require.Len(t, entries, 2)
	assert.Equal(t, int64(1), entries[0].ContextMap()["n"])
	assert.NotContains(t, entries[0].ContextMap(), "similar_not_logged")
	assert.Equal(t, int64(4), entries[1].ContextMap()["n"])
	assert.Equal(t, int64(2), entries[1].ContextMap()["similar_not_logged"])
}

func TestLoggerLimitsEachMessageOnItsOwn(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	r := New(zap.New(core), time.Minute)
	t0 := time.Unix(1000, 0)
	r.WarnAt(t0, "next consumer refused")
	r.WarnAt(t0.Add(time.Second), "dropping sampled spans at shutdown")
	r.WarnAt(t0.Add(2*time.Second), "next consumer refused")
	r.WarnAt(t0.Add(3*time.Second), "dropping sampled spans at shutdown")
	r.WarnAt(t0.Add(time.Minute+time.Second), "dropping sampled spans at shutdown")
	entries := logs.All()
	require.Len(t, entries, 3)
	assert.Equal(t, "next consumer refused", entries[0].Message)
	assert.Equal(t, "dropping sampled spans at shutdown", entries[1].Message)
	assert.Equal(t, "dropping sampled spans at shutdown", entries[2].Message)
	assert.Equal(t, int64(1), entries[2].ContextMap()["similar_not_logged"])
}

func TestLoggerNil(t *testing.T) {
	r := New(nil, time.Second)
	r.Warn("goes nowhere") // must not panic
}

func ExampleLogger() {
	warn := New(zap.NewExample(), 10*time.Second)
	for range 3 {
		warn.Warn("span without trace ID")
	}
	// Output:
	// {"level":"warn","msg":"span without trace ID"}
}
