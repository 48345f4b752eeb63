package lbexporter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/tailgate-otel/tailgate/internal/ratelog"
)

// errBackendRemoved is returned for sends to a backend that left the ring;
// the caller re-routes the data.
var errBackendRemoved = errors.New("endpoint was removed from the ring")

// backend is one endpoint's exporter and, with the sending queue on (the
// default), its own bounded buffer and senders: a slow or dead endpoint
// fills only its own buffer. Without the queue, sends are synchronous and
// everything addressed to the endpoint is in a caller's hands.
type backend[T any] struct {
	endpoint string
	comp     component.Component
	consume  func(context.Context, T) error
	attrs    endpointAttrs
	warn     *ratelog.Logger // this endpoint's failures and drops, rate-limited

	mu       sync.RWMutex
	closed   bool           // no new sends: removed from the ring, or shut down
	inflight sync.WaitGroup // synchronous sends

	// gone is set when the endpoint left the ring: whatever it holds is
	// re-routed. stopping is set at Shutdown: nothing is retried any more.
	gone, stopping atomic.Bool
	// failedStopping: a send failed after stopping was set; the rest of
	// the buffer is not attempted.
	failedStopping atomic.Bool
	// interrupt is closed by either: senders waiting between retries wake.
	interrupt     chan struct{}
	interruptOnce sync.Once

	// abortCtx is cancelled when a removed endpoint's grace period or the
	// Shutdown deadline is over: sends still running give up.
	abortCtx context.Context
	abort    context.CancelFunc

	// recovered wakes senders waiting between retries when a send to
	// this endpoint succeeds, so a backlog drains as soon as it is back.
	recovered wakeup
	// prober is held by the sender whose retry wait is capped at
	// recoveryProbe.
	prober atomic.Bool

	// Buffered mode (nil buf: synchronous).
	buf     *buffer[T]
	store   *store // persistent buffer
	senders sync.WaitGroup
	quit    chan struct{} // persistent Shutdown: senders stop taking entries

	// failover state
	failures  atomic.Int32
	unhealthy atomic.Bool
	nextProbe atomic.Int64 // unix nanos
}

func newBackend[T any](endpoint string, comp component.Component, consume func(context.Context, T) error, warn *ratelog.Logger) *backend[T] {
	b := &backend[T]{endpoint: endpoint, comp: comp, consume: consume, attrs: newEndpointAttrs(endpoint), warn: warn,
		interrupt: make(chan struct{}), quit: make(chan struct{})}
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

func (b *backend[T]) setClosed() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	if b.buf != nil {
		b.buf.close()
	}
}

func (b *backend[T]) wakeAll() { b.interruptOnce.Do(func() { close(b.interrupt) }) }

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

// waitInflight waits for synchronous sends and senders to finish, for at
// most grace or until ctx ends; then whatever still runs is aborted (and
// re-routed or dropped by its owner), and waited for.
func (b *backend[T]) waitInflight(ctx context.Context, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		b.inflight.Wait()
		b.senders.Wait()
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
}

// shutdownExporter stops the endpoint's exporter, with a bounded wait even
// when ctx has ended.
func (b *backend[T]) shutdownExporter(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return b.comp.Shutdown(sctx)
}

// wakeup is a broadcast that costs nothing while nobody waits.
type wakeup struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next fire.
func (w *wakeup) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *wakeup) fire() {
	w.mu.Lock()
	ch := w.ch
	w.ch = nil
	w.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}
