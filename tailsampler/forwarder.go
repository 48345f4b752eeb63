package tailsampler

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

const (
	// forwardBatchSpans caps an outgoing batch built at shutdown.
	forwardBatchSpans = 8192
	// mergeBelowSpans: queued batches smaller than this are merged before
	// forwarding, so one-span late arrivals do not each cost a call.
	mergeBelowSpans = 1024
)

// forwarder hands decided spans to the next consumer on its own goroutine,
// so a slow consumer never stalls decisions. Deciders never block on it;
// ingest does, when more than limit spans are queued (back-pressure).
type forwarder struct {
	next   consumer.Traces
	p      *sampler
	limit  int64
	mu     sync.Mutex
	items  []queuedBatch
	queued int64
	// roomWait is closed when the queue drops to the limit.
	roomWait chan struct{}
	notEmpty chan struct{} // cap 1
}

type queuedBatch struct {
	td    ptrace.Traces
	spans int
}

func newForwarder(p *sampler, next consumer.Traces, limit int64) *forwarder {
	return &forwarder{next: next, p: p, limit: limit, notEmpty: make(chan struct{}, 1)}
}

func (f *forwarder) enqueue(td ptrace.Traces, spans int) {
	f.mu.Lock()
	if n := len(f.items); n > 0 && f.items[n-1].spans < mergeBelowSpans && spans < mergeBelowSpans {
		last := &f.items[n-1]
		td.ResourceSpans().MoveAndAppendTo(last.td.ResourceSpans())
		last.spans += spans
	} else {
		f.items = append(f.items, queuedBatch{td: td, spans: spans})
	}
	f.queued += int64(spans)
	f.mu.Unlock()
	select {
	case f.notEmpty <- struct{}{}:
	default:
	}
}

// waitRoom blocks while the queue is over its limit. It returns false when
// ctx ended or the processor stopped first.
func (f *forwarder) waitRoom(ctx context.Context) bool {
	waited := false
	for {
		f.mu.Lock()
		if f.queued <= f.limit {
			f.mu.Unlock()
			if waited {
				f.p.tel.backpressure.Add(f.p.runCtx, 1)
			}
			return true
		}
		if f.roomWait == nil {
			f.roomWait = make(chan struct{})
		}
		ch := f.roomWait
		f.mu.Unlock()
		waited = true
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-f.p.stopping:
			return false
		}
	}
}

func (f *forwarder) pop() (queuedBatch, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.items) == 0 {
		return queuedBatch{}, false
	}
	b := f.items[0]
	f.items[0] = queuedBatch{}
	f.items = f.items[1:]
	if len(f.items) == 0 {
		f.items = nil
	}
	return b, true
}

// done releases a forwarded (or failed) batch's share of the queue; spans
// count against the limit until the next consumer has returned.
func (f *forwarder) done(spans int) {
	f.mu.Lock()
	f.queued -= int64(spans)
	if f.queued <= f.limit && f.roomWait != nil {
		close(f.roomWait)
		f.roomWait = nil
	}
	f.mu.Unlock()
}

// run forwards until stop is closed and the queue is empty.
func (f *forwarder) run(ctx context.Context, stop <-chan struct{}) {
	for {
		for {
			b, ok := f.pop()
			if !ok {
				break
			}
			f.send(ctx, b)
		}
		select {
		case <-f.notEmpty:
		case <-stop:
			for {
				b, ok := f.pop()
				if !ok {
					return
				}
				f.send(ctx, b)
			}
		}
	}
}

func (f *forwarder) send(ctx context.Context, b queuedBatch) {
	defer f.done(b.spans)
	if ctx.Err() != nil {
		f.p.tel.forwardFailed.Add(f.p.runCtx, int64(b.spans))
		f.p.warn.Warn("dropping sampled spans: shutdown deadline passed before they were forwarded",
			zap.Int("spans", b.spans))
		return
	}
	if err := f.next.ConsumeTraces(ctx, b.td); err != nil {
		f.p.tel.forwardFailed.Add(f.p.runCtx, int64(b.spans))
		f.p.warn.Warn("next consumer refused sampled spans", zap.Int("spans", b.spans), zap.Error(err))
	}
}

// queuedSpans is how many decided spans wait for (or are in) the next
// consumer.
func (f *forwarder) queuedSpans() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queued
}
