package static

import (
	"context"
	"fmt"
	"sync"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/internal/loop"
)

// Option configures a static Resolver. There are none yet; the type keeps
// New's signature in line with the other mechanisms.
type Option interface{ apply(*options) }

type options struct{}

// Resolver publishes a fixed endpoint list.
type Resolver struct {
	endpoints []string
	pub       *loop.Publisher

	mu      sync.Mutex
	started bool
	stopped bool
}

var _ resolver.Resolver = (*Resolver)(nil)

// New validates cfg and builds the resolver. l may be nil.
func New(cfg resolver.StaticConfig, set resolver.Settings, l resolver.Listener, opts ...Option) (*Resolver, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := (&resolver.Config{Static: &cfg}).Validate(); err != nil {
		return nil, err
	}
	pub, err := loop.NewPublisher(resolver.KindStatic, set, l, 0)
	if err != nil {
		return nil, fmt.Errorf("static resolver: %w", err)
	}
	return &Resolver{endpoints: cfg.Endpoints(), pub: pub}, nil
}

// Start publishes the list.
func (r *Resolver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.stopped:
		return resolver.ErrShutdown
	case r.started:
		return resolver.ErrAlreadyStarted
	}
	r.started = true
	r.pub.Success(ctx, r.endpoints)
	return nil
}

// Shutdown marks the resolver stopped; it holds no goroutine.
func (r *Resolver) Shutdown(context.Context) error {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	return nil
}

// Endpoints returns the list once started, nil before.
func (r *Resolver) Endpoints() []string { return r.pub.Endpoints() }
