package lbexporter

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/internal/failovermark"
)

// outcome is how delivering one piece of data to one endpoint ended.
type outcome int

const (
	outDelivered   outcome = iota
	outRejected            // permanent error: retrying cannot help
	outGaveUp              // retry_on_failure disabled or out of time
	outRemoved             // the endpoint left the ring: re-route
	outFailedOver          // the endpoint is unhealthy (failover on): re-route
	outInterrupted         // ctx ended, or Shutdown stopped retries
)

// attempt sends data to b once and records the upstream metrics and the
// endpoint's health.
func (l *lb[T]) attempt(ctx context.Context, b *backend[T], data T, flags uint8) error {
	if flags&flagFailedOver != 0 {
		ctx = failovermark.Outgoing(ctx)
	}
	start := time.Now()
	err := b.consume(ctx, data)
	l.tel.backendLatency.Record(context.Background(), time.Since(start).Milliseconds(), b.attrs.endpoint)
	if err == nil {
		l.tel.backendOutcome.Add(context.Background(), 1, b.attrs.success)
		b.recovered.fire()
	} else {
		l.tel.backendOutcome.Add(context.Background(), 1, b.attrs.failure)
	}
	if l.cfg.Failover.Enabled && !b.gone.Load() {
		// A permanent error is an answer: the endpoint is up.
		l.markHealth(b, err == nil || consumererror.IsPermanent(err), err)
	}
	return err
}

func (l *lb[T]) markHealth(b *backend[T], ok bool, err error) {
	switch b.markResult(ok, l.cfg.Failover.MaxConsecutiveFailures, l.cfg.Failover.ProbeInterval, time.Now()) {
	case 1:
		l.tel.failovers.Add(context.Background(), 1, b.attrs.endpoint)
		l.tel.unhealthyBackend.Add(context.Background(), 1)
		l.set.Logger.Warn("load_balancing: endpoint marked unhealthy, its keys fail over to their next ring choice",
			zap.String("endpoint", b.endpoint), zap.Error(err))
		if b.buf != nil {
			l.failoverBuffered(b)
		}
	case -1:
		l.tel.unhealthyBackend.Add(context.Background(), -1)
		l.set.Logger.Info("load_balancing: endpoint healthy again", zap.String("endpoint", b.endpoint))
	}
}

// tryDeliver sends data to b, retrying transient failures as
// protocol.otlp.retry_on_failure says. A wait between attempts ends early
// when another send to b succeeds (the endpoint is back: the backlog goes
// at once), when b leaves the ring, or at Shutdown; one waiting sender per
// endpoint waits at most recoveryProbe.
func (l *lb[T]) tryDeliver(ctx context.Context, b *backend[T], data T, flags uint8) (outcome, error) {
	var bo *retryBackoff
	for {
		if b.gone.Load() {
			return outRemoved, errBackendRemoved
		}
		if b.stopping.Load() && b.failedStopping.Load() {
			// Shutting down, and this endpoint already failed since:
			// do not spend a timeout per buffered part on it.
			return outInterrupted, ErrShutdown
		}
		err := l.attempt(ctx, b, data, flags)
		if err != nil && b.stopping.Load() {
			b.failedStopping.Store(true)
		}
		switch {
		case err == nil:
			return outDelivered, nil
		case b.gone.Load():
			// Whatever the error says (an aborted send may look permanent),
			// the data belongs to another endpoint now.
			return outRemoved, err
		case consumererror.IsPermanent(err):
			return outRejected, err
		case l.cfg.Failover.Enabled && b.unhealthy.Load():
			return outFailedOver, err
		case ctx.Err() != nil, b.stopping.Load():
			return outInterrupted, err
		}
		now := time.Now()
		if bo == nil {
			bo = newRetryBackoff(l.cfg.Protocol.OTLP.RetryConfig, now)
		}
		d, ok := bo.delay(now, err)
		if !ok {
			return outGaveUp, err
		}
		prober := b.prober.CompareAndSwap(false, true)
		if prober && d > recoveryProbe && throttleDelay(err) < recoveryProbe {
			d = recoveryProbe
		}
		if deadline, has := ctx.Deadline(); has && deadline.Before(now.Add(d)) {
			return outGaveUp, fmt.Errorf("deadline before the next retry: %w", err)
		}
		l.set.Logger.Debug("load_balancing: export to endpoint failed, will retry",
			zap.String("endpoint", b.endpoint), zap.Duration("interval", d), zap.Error(err))
		wake := b.recovered.wait()
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-wake:
		case <-b.interrupt:
		case <-ctx.Done():
		}
		timer.Stop()
		if prober {
			b.prober.Store(false)
		}
		if ctx.Err() != nil || b.stopping.Load() {
			return outInterrupted, err
		}
	}
}

// recoveryProbe bounds the wait of one of a failing endpoint's senders
// (the prober): whatever the backoff of the others, the endpoint is tried
// at least this often, and its first success wakes them all, so a gateway
// that answers again gets its backlog within about this time.
const recoveryProbe = time.Second

// sender is one of an endpoint's num_consumers goroutines.
func (l *lb[T]) sender(b *backend[T]) {
	defer b.senders.Done()
	for {
		e, ok := b.buf.take(b.quit)
		if !ok {
			return
		}
		l.deliverEntry(b, e)
	}
}

func (l *lb[T]) deliverEntry(b *backend[T], e entry[T]) {
	data, err := l.load(b, e)
	if err != nil {
		l.dropEntry(b, e, 0, dropCorrupt, err)
		return
	}
	e.enc = nil // decoded: only the data is held while sending
	out, err := l.tryDeliver(b.abortCtx, b, data, e.flags)
	switch out {
	case outDelivered:
		l.finish(b, e, nil)
	case outRejected:
		l.dropEntry(b, e, l.ops.count(data), dropRejected, err)
	case outGaveUp:
		l.dropEntry(b, e, l.ops.count(data), dropRetriesExhausted, err)
	case outRemoved:
		l.handOff(b, e, data, reasonEndpointRemoved)
	case outFailedOver:
		l.handOff(b, e, data, reasonEndpointUnhealthy)
	default:
		l.leave(b, e, data, err)
	}
}

// load returns an entry's data.
func (l *lb[T]) load(b *backend[T], e entry[T]) (T, error) {
	var zero T
	switch {
	case b.store != nil:
		v, err := b.store.get(context.Background(), e.seq)
		if err != nil {
			return zero, err
		}
		if v == nil {
			return zero, ErrCorruptEntry
		}
		_, _, payload, err := decodeValue(v)
		if err != nil {
			return zero, err
		}
		return l.ops.unmarshal(payload)
	case e.enc != nil:
		return l.ops.unmarshal(e.enc)
	}
	return e.data, nil
}

// finish ends an entry's stay in b: its size is released, its stored copy
// deleted, and a waiting caller told.
func (l *lb[T]) finish(b *backend[T], e entry[T], err error) {
	if b.store != nil {
		if serr := b.store.remove(context.Background(), e.seq); serr != nil {
			b.warn.Warn("load_balancing: removing a delivered entry from storage failed; it may be sent again after a restart",
				zap.String("endpoint", b.endpoint), zap.Error(serr))
		}
	}
	b.buf.release(e.size)
	e.w.done(err)
}

// dropEntry counts, logs and forgets an entry.
func (l *lb[T]) dropEntry(b *backend[T], e entry[T], items int, reason string, err error) {
	l.countDrop(b, items, reason, err)
	l.finish(b, e, consumererror.NewPermanent(fmt.Errorf("dropped (%s): %w", reason, err)))
}

func (l *lb[T]) countDrop(b *backend[T], items int, reason string, err error) {
	l.tel.drop(context.Background(), b.endpoint, reason, items)
	b.warn.Warn("load_balancing: dropping data for endpoint",
		zap.String("endpoint", b.endpoint), zap.String("reason", reason), zap.Int("items", items), zap.Error(err))
}

// leave handles an entry whose delivery Shutdown interrupted: a stored
// entry stays in storage for the next start; one in memory is dropped.
func (l *lb[T]) leave(b *backend[T], e entry[T], data T, err error) {
	if b.store != nil {
		b.buf.release(e.size)
		e.w.done(err)
		return
	}
	if err == nil {
		err = ErrShutdown
	}
	l.dropEntry(b, e, l.ops.count(data), dropShutdown, err)
}

// handOff re-routes an entry of b through the current ring (b left it, or
// is unhealthy), waiting for room in the new owners' buffers.
func (l *lb[T]) handOff(b *backend[T], e entry[T], data T, reason string) {
	l.transit.Add(1)
	defer l.transit.Add(-1)
	n := int64(l.ops.count(data))
	attrs := l.tel.reroutedRemoved
	flags := e.flags
	if reason == reasonEndpointUnhealthy {
		attrs = l.tel.reroutedUnhealthy
		flags |= flagFailedOver
	}
	l.tel.rerouted.Add(context.Background(), n, attrs)
	rest, left := l.rerouteBlocking(data, flags, e.w)
	if !left {
		l.finish(b, e, nil)
		return
	}
	l.leave(b, e, rest, ErrShutdown)
}

// rerouteBlocking enqueues data through the current ring, retrying what
// finds no room (or no endpoint) until it fits. It gives up only at
// Shutdown and returns what was left.
func (l *lb[T]) rerouteBlocking(data T, flags uint8, w *waiter) (rest T, left bool) {
	wait := 20 * time.Millisecond
	for {
		failed, has, _ := l.enqueue(context.Background(), data, flags, w, 0, false)
		if !has {
			return rest, false
		}
		data = failed
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-l.stopc:
			timer.Stop()
			return data, true
		}
		wait = min(2*wait, time.Second)
	}
}

// failoverBuffered moves what waits in the buffer of an endpoint that
// just became unhealthy to the keys' next ring choices.
func (l *lb[T]) failoverBuffered(b *backend[T]) {
	l.transit.Add(1)
	l.closing.Go(func() {
		defer l.transit.Add(-1)
		l.handOffQueued(b, reasonEndpointUnhealthy)
	})
}

// handOffQueued re-routes every entry waiting in b's buffer (not those its
// senders hold).
func (l *lb[T]) handOffQueued(b *backend[T], reason string) {
	for _, e := range b.buf.drain() {
		data, err := l.load(b, e)
		if err != nil {
			l.dropEntry(b, e, 0, dropCorrupt, err)
			continue
		}
		l.handOff(b, e, data, reason)
	}
}

// offer turns part into an entry of b (encoding or storing it as the
// sizer and storage require) and offers it to b's buffer.
func (l *lb[T]) offer(ctx context.Context, b *backend[T], part T, flags uint8, w *waiter, block bool) error {
	e := entry[T]{flags: flags, w: w}
	var payload []byte
	if b.store != nil || l.q.sizer == sizeBytes {
		var err error
		if payload, err = l.ops.marshal(part); err != nil {
			return consumererror.NewPermanent(fmt.Errorf("encoding for the buffer: %w", err))
		}
	}
	switch l.q.sizer {
	case sizeItems:
		e.size = int64(l.ops.count(part))
	case sizeBytes:
		e.size = int64(len(payload))
	default:
		e.size = 1
	}
	switch {
	case b.store != nil:
		seq, err := b.store.put(ctx, encodeValue(flags, l.ops.count(part), payload))
		if err != nil {
			return fmt.Errorf("writing to storage: %w", err)
		}
		e.seq = seq
	case payload != nil:
		e.enc = payload
	default:
		e.data = part
	}
	w.add(1)
	err := b.buf.offer(ctx, e, block)
	if err != nil {
		w.add(-1)
		if b.store != nil {
			_ = b.store.remove(context.Background(), e.seq)
		}
	}
	return err
}

// entryCount is the item count of an entry still in memory.
func (l *lb[T]) entryCount(e entry[T]) int {
	if e.enc == nil {
		return l.ops.count(e.data)
	}
	data, err := l.ops.unmarshal(e.enc)
	if err != nil {
		return 0
	}
	return l.ops.count(data)
}
