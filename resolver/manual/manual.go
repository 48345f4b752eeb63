package manual

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/internal/loop"
)

// Kind is the value of the `resolver` attribute of this mechanism's
// otelcol_loadbalancer_* metrics.
const Kind = "manual"

// Resolver publishes the endpoints its owner sets.
type Resolver struct {
	pub *loop.Publisher
	src *Source // nil unless built by Source.Resolver

	mu      sync.Mutex
	pending []string // what Set said before Start
	started bool
	stopped bool
}

var _ resolver.Resolver = (*Resolver)(nil)

// New returns a resolver that will publish initial when started, and every
// set given to Set afterwards.
func New(set resolver.Settings, l resolver.Listener, initial ...string) (*Resolver, error) {
	pub, err := loop.NewPublisher(Kind, set, l, 0)
	if err != nil {
		return nil, fmt.Errorf("manual resolver: %w", err)
	}
	return &Resolver{pub: pub, pending: slices.Clone(initial)}, nil
}

// Start publishes the set given to New or to the last Set before it.
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
	r.pub.Success(ctx, r.pending)
	r.pending = nil
	return nil
}

// Set replaces the endpoint set. Before Start it only records the set;
// after Shutdown it does nothing.
func (r *Resolver) Set(endpoints ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.stopped:
	case !r.started:
		r.pending = slices.Clone(endpoints)
	default:
		r.pub.Success(context.Background(), endpoints)
	}
}

// Shutdown stops publishing. It is idempotent and safe before Start.
func (r *Resolver) Shutdown(context.Context) error {
	if r.src != nil {
		r.src.leave(r)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	return nil
}

// Endpoints returns a copy of the last published set.
func (r *Resolver) Endpoints() []string { return r.pub.Endpoints() }
