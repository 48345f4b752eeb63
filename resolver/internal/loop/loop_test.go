package loop

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/internal/metrictest"
)

func TestPublisherOnlyOnChange(t *testing.T) {
	reader, set := metrictest.New(t)
	rec := metrictest.NewRecorder(t)
	p, err := NewPublisher("dns", set, rec.Listen, time.Hour)
	require.NoError(t, err)
	ctx := context.Background()

	assert.False(t, p.Success(ctx, nil), "empty to empty is no change")
	assert.True(t, p.Success(ctx, []string{"b:1", "a:1", "b:1"}))
	assert.False(t, p.Success(ctx, []string{"a:1", "b:1"}))
	assert.Equal(t, []string{"a:1", "b:1"}, rec.Last())
	p.Failure(ctx, errors.New("boom"))
	assert.Equal(t, []string{"a:1", "b:1"}, p.Endpoints())
	assert.True(t, p.Success(ctx, []string{}))
	assert.Equal(t, []string{}, rec.Last())

	assert.Equal(t, 2, rec.Calls())
	assert.Equal(t, int64(4), reader.Resolutions(t, "dns", true))
	assert.Equal(t, int64(1), reader.Resolutions(t, "dns", false))
	assert.Equal(t, int64(2), reader.Updates(t, "dns"))
	assert.Equal(t, int64(0), reader.Backends(t, "dns"))
}

// Concurrent publications never overlap in the listener (the Recorder
// fails the test if they do) and the listener may read Endpoints.
func TestPublisherSerialisesListener(t *testing.T) {
	var p *Publisher
	rec := metrictest.NewRecorder(t)
	p, err := NewPublisher("k8s", resolver.Settings{}, func(eps []string) {
		rec.Listen(eps)
		_ = p.Endpoints()
	}, 0)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				p.Success(context.Background(), []string{string(rune('a'+i)) + ":" + string(rune('0'+j%10))})
			}
		})
	}
	wg.Wait()
	assert.Positive(t, rec.Calls())
}

func TestFailureLogIsRateLimited(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	p, err := NewPublisher("dns", resolver.Settings{Logger: zap.New(core)}, nil, time.Hour)
	require.NoError(t, err)
	for range 100 {
		p.Failure(context.Background(), errors.New("refused"))
	}
	assert.Equal(t, 1, logs.Len())
}

func TestPollBacksOffAndRecovers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	times := make(chan time.Time, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Poll(ctx, 400*time.Millisecond, 10*time.Millisecond, false, func(context.Context) bool {
			times <- time.Now()
			return n.Add(1) > 4 // four failures, then success
		})
	}()
	var got []time.Time
	for len(got) < 6 {
		got = append(got, <-times)
	}
	cancel()
	<-done
	// Failure delays double (jitter ±20%), then a success waits the interval.
	gaps := make([]time.Duration, 0, 5)
	for i := 1; i < len(got); i++ {
		gaps = append(gaps, got[i].Sub(got[i-1]))
	}
	assert.Less(t, gaps[0], gaps[3], "backoff grows: %v", gaps)
	assert.GreaterOrEqual(t, gaps[4], 390*time.Millisecond, "after a success the interval applies: %v", gaps)
	for _, g := range gaps[:4] {
		assert.Less(t, g, 400*time.Millisecond, "backoff capped at interval: %v", gaps)
	}
}

func TestLifecycleStopHonoursDeadline(t *testing.T) {
	var l Lifecycle
	_, err := l.Begin(context.Background())
	require.NoError(t, err)
	release := make(chan struct{})
	l.Go(func(context.Context) { <-release }) // ignores cancellation
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, l.Stop(ctx), context.DeadlineExceeded)
	close(release)
	require.NoError(t, l.Stop(context.Background()))
	l.Go(func(context.Context) { t.Error("ran after Stop") })
	_, err = l.Begin(context.Background())
	require.ErrorIs(t, err, resolver.ErrShutdown)
}
