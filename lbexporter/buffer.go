package lbexporter

import (
	"context"
	"errors"
	"sync"
)

// Errors of an endpoint's buffer.
var (
	// ErrBufferFull is returned (retryable, wrapped with the endpoint) for
	// the part of a batch whose endpoint's buffer is full; the other parts
	// of the batch are accepted.
	ErrBufferFull = errors.New("load_balancing: endpoint buffer is full")
)

// Entry flags, persisted with the entry.
const (
	// flagFailedOver marks data routed to a ring successor because its
	// owner was unhealthy; it is sent with the failover mark.
	flagFailedOver uint8 = 1 << iota
)

// entry is one part of one routed batch waiting for its endpoint.
type entry[T any] struct {
	data  T      // the part (memory buffer with requests or items sizer)
	enc   []byte // its encoding (bytes sizer); data is then unset
	seq   uint64 // its key in the endpoint's store (persistent buffer)
	size  int64  // in sizer units
	flags uint8
	w     *waiter // wait_for_result
}

// buffer is one endpoint's bounded FIFO of entries. Its size counts the
// entries queued and those its senders hold (in flight or between
// retries), so memory for an endpoint is bounded by limit whatever the
// endpoint does; one entry larger than limit is accepted only into an
// empty buffer, so that it is not refused forever.
type buffer[T any] struct {
	limit int64

	mu      sync.Mutex
	ring    []entry[T]
	head, n int
	used    int64
	closed  bool
	space   chan struct{} // closed when space frees, if an offer waits for it

	ready  chan struct{} // wakes senders; one token per sender at most
	closec chan struct{} // closed by close
}

func newBuffer[T any](limit int64, senders int) *buffer[T] {
	return &buffer[T]{limit: limit, ready: make(chan struct{}, senders), closec: make(chan struct{})}
}

// offer appends e. With block, it waits for room until ctx ends; without,
// a full buffer refuses at once with ErrBufferFull. A closed buffer
// refuses with errBackendRemoved.
func (q *buffer[T]) offer(ctx context.Context, e entry[T], block bool) error {
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			return errBackendRemoved
		}
		if q.used == 0 || q.used+e.size <= q.limit {
			break
		}
		if !block {
			q.mu.Unlock()
			return ErrBufferFull
		}
		if q.space == nil {
			q.space = make(chan struct{})
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		case <-q.closec:
		}
		q.mu.Lock()
	}
	q.push(e)
	q.used += e.size
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return nil
}

func (q *buffer[T]) push(e entry[T]) {
	if q.n == len(q.ring) {
		grown := make([]entry[T], max(8, 2*len(q.ring)))
		for i := range q.n {
			grown[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = grown, 0
	}
	q.ring[(q.head+q.n)%len(q.ring)] = e
	q.n++
}

func (q *buffer[T]) pop() entry[T] {
	var zero entry[T]
	e := q.ring[q.head]
	q.ring[q.head] = zero
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return e
}

// take removes the oldest entry, waiting for one until stop is closed or
// the buffer is closed and empty. The entry's size stays counted until
// release.
func (q *buffer[T]) take(stop <-chan struct{}) (entry[T], bool) {
	for {
		q.mu.Lock()
		if q.n > 0 {
			e := q.pop()
			more := q.n > 0
			q.mu.Unlock()
			if more {
				// Pass the wake-up on: one token may stand for many offers.
				select {
				case q.ready <- struct{}{}:
				default:
				}
			}
			return e, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return entry[T]{}, false
		}
		select {
		case <-q.ready:
		case <-q.closec:
		case <-stop:
			return entry[T]{}, false
		}
	}
}

// drain removes every queued entry (not those senders hold); their sizes
// stay counted until released.
func (q *buffer[T]) drain() []entry[T] {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]entry[T], 0, q.n)
	for q.n > 0 {
		out = append(out, q.pop())
	}
	return out
}

// release uncounts size once an entry has left: delivered, dropped,
// re-routed, or left in storage.
func (q *buffer[T]) release(size int64) {
	q.mu.Lock()
	q.used -= size
	space := q.space
	q.space = nil
	q.mu.Unlock()
	if space != nil {
		close(space)
	}
}

// close refuses further offers and wakes every waiter. Idempotent.
func (q *buffer[T]) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	close(q.closec)
}

// size is what the buffer counts: entries queued and held by senders.
func (q *buffer[T]) size() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used
}

// waiter lets a caller with wait_for_result wait until every part of its
// batch has left the buffers: delivered (nil) or dropped (the first error).
// It starts with one hold, the caller's, released by done once every part
// is offered, so that it cannot complete early; parts re-routed to other
// endpoints hand their share on (add before done).
type waiter struct {
	mu  sync.Mutex
	n   int
	err error
	ch  chan struct{}
}

func newWaiter() *waiter { return &waiter{n: 1, ch: make(chan struct{})} }

func (w *waiter) add(k int) {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.n += k
	w.mu.Unlock()
}

func (w *waiter) done(err error) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && w.err == nil {
		w.err = err
	}
	w.n--
	if w.n == 0 {
		close(w.ch)
	}
}

func (w *waiter) wait(ctx context.Context) error {
	w.mu.Lock()
	if w.n == 0 {
		w.mu.Unlock()
		return w.err
	}
	w.mu.Unlock()
	select {
	case <-w.ch:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
