package lbexporter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
)

// errBackendRemoved is returned for sends to a backend that left the ring;
// the caller re-routes the data.
var errBackendRemoved = errors.New("endpoint was removed from the ring")

// backend is one endpoint's exporter. Sends are synchronous: the per-endpoint
// exporter runs without a queue, so everything addressed to this endpoint
// is either in a caller's hands or in flight here, and can be re-routed if
// the endpoint leaves (see close).
type backend[T any] struct {
	endpoint string
	comp     component.Component
	consume  func(context.Context, T) error
	attrs    endpointAttrs

	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup

	// abortCtx is cancelled when a removed endpoint's grace period is over:
	// sends still running (typically retrying a dead peer) give up and
	// their data is re-routed.
	abortCtx context.Context
	abort    context.CancelFunc

	// failover state
	failures  atomic.Int32
	unhealthy atomic.Bool
	nextProbe atomic.Int64 // unix nanos
}

func newBackend[T any](endpoint string, comp component.Component, consume func(context.Context, T) error) *backend[T] {
	b := &backend[T]{endpoint: endpoint, comp: comp, consume: consume, attrs: newEndpointAttrs(endpoint)}
	b.abortCtx, b.abort = context.WithCancel(context.Background())
	return b
}

func (b *backend[T]) acquire() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return false
	}
	b.inflight.Add(1)
	return true
}

func (b *backend[T]) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

// send exports data. removed reports that the failure is due to the
// endpoint having left the ring, so the data must be re-routed.
func (b *backend[T]) send(ctx context.Context, data T) (removed bool, err error) {
	if !b.acquire() {
		return true, errBackendRemoved
	}
	defer b.inflight.Done()
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.abortCtx, cancel)
	err = b.consume(sctx, data)
	stop()
	cancel()
	if err != nil && b.isClosed() {
		return true, err
	}
	return false, err
}

// claimProbe reports whether the caller may send a probe to this
// unhealthy backend now, and if so pushes the next probe one interval out.
func (b *backend[T]) claimProbe(now time.Time) bool {
	due := b.nextProbe.Load()
	if now.UnixNano() < due {
		return false
	}
	return b.nextProbe.CompareAndSwap(due, now.Add(probeBackoff).UnixNano())
}

// probeBackoff keeps concurrent callers from all claiming the same probe;
// the real interval is set by markFailure.
const probeBackoff = 250 * time.Millisecond

// markResult updates failover state; it returns +1 when the backend just
// became unhealthy, -1 when it just recovered.
func (b *backend[T]) markResult(ok bool, threshold int, probeInterval time.Duration, now time.Time) int {
	if ok {
		b.failures.Store(0)
		if b.unhealthy.CompareAndSwap(true, false) {
			return -1
		}
		return 0
	}
	n := b.failures.Add(1)
	if b.unhealthy.Load() {
		b.nextProbe.Store(now.Add(probeInterval).UnixNano())
		return 0
	}
	if int(n) >= threshold {
		b.nextProbe.Store(now.Add(probeInterval).UnixNano())
		if b.unhealthy.CompareAndSwap(false, true) {
			return 1
		}
	}
	return 0
}

// close takes the backend out of service: new sends are refused (their
// callers re-route), sends in flight get grace to finish, then are aborted
// and re-routed by their callers, then the exporter is shut down.
func (b *backend[T]) close(ctx context.Context, grace time.Duration) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()

	done := make(chan struct{})
	go func() {
		b.inflight.Wait()
		close(done)
	}()
	timer := time.NewTimer(grace)
	select {
	case <-done:
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	b.abort()
	<-done
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return b.comp.Shutdown(sctx)
}
