package loop

import (
	"context"
	"sync"

	"github.com/tailgate-otel/tailgate/resolver"
)

// Lifecycle is the start/stop state machine of a resolver: Start once,
// Shutdown any number of times (also before Start), and every goroutine it
// launched is waited for.
type Lifecycle struct {
	mu      sync.Mutex
	started bool
	stopped bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Begin moves to "started" and returns the context that lives until
// Shutdown. It keeps parent's values but not its cancellation: the
// collector cancels Start's context when Start returns.
func (l *Lifecycle) Begin(parent context.Context) (context.Context, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.stopped:
		return nil, resolver.ErrShutdown
	case l.started:
		return nil, resolver.ErrAlreadyStarted
	}
	l.started = true
	l.ctx, l.cancel = context.WithCancel(context.WithoutCancel(parent))
	return l.ctx, nil
}

// Go runs f in a goroutine that Shutdown waits for. It does nothing once
// Shutdown has begun, so a Start racing with Shutdown leaks nothing.
func (l *Lifecycle) Go(f func(ctx context.Context)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || !l.started {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f(l.ctx)
	}()
}

// Stop cancels the context and waits for the goroutines, or for ctx.
func (l *Lifecycle) Stop(ctx context.Context) error {
	l.mu.Lock()
	l.stopped = true
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
