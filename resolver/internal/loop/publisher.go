package loop

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/internal/ratelog"
	"github.com/tailgate-otel/tailgate/resolver"
)

// Publisher owns the last good endpoint set of one resolver. It counts each
// resolution, and tells the listener about a new set only when the set
// changed; listener calls are serialised.
type Publisher struct {
	kind     string
	log      *zap.Logger
	tel      *Telemetry
	listener resolver.Listener
	limiter  *ratelog.Limiter

	// notifyMu serialises compare-store-notify so that listener calls never
	// overlap and arrive in the order the sets were resolved. It is distinct
	// from mu so that a listener may call Endpoints.
	notifyMu sync.Mutex
	mu       sync.RWMutex
	current  []string
}

// NewPublisher builds a publisher for one mechanism. Failures are logged at
// most once per logEvery.
func NewPublisher(kind string, set resolver.Settings, l resolver.Listener, logEvery time.Duration) (*Publisher, error) {
	log := set.Logger
	if log == nil {
		log = zap.NewNop()
	}
	tel, err := NewTelemetry(set.MeterProvider, kind)
	if err != nil {
		return nil, err
	}
	return &Publisher{
		kind:     kind,
		log:      log.With(zap.String("resolver", kind)),
		tel:      tel,
		listener: l,
		limiter:  ratelog.NewLimiter(logEvery),
	}, nil
}

// Logger is the resolver's logger, tagged with its kind.
func (p *Publisher) Logger() *zap.Logger { return p.log }

// Success records a successful resolution that found eps (any order, may
// hold duplicates; the slice is not kept) and notifies the listener if the
// set changed. It reports whether it did.
func (p *Publisher) Success(ctx context.Context, eps []string) bool {
	next := resolver.SortDedupe(slices.Clone(eps))
	if next == nil {
		next = []string{}
	}
	p.notifyMu.Lock()
	defer p.notifyMu.Unlock()
	p.tel.resolution(ctx, true)
	p.tel.backendCount(ctx, len(next))
	p.mu.RLock()
	same := slices.Equal(p.current, next)
	p.mu.RUnlock()
	if same {
		return false
	}
	p.mu.Lock()
	p.current = next
	p.mu.Unlock()
	p.tel.backendUpdate(ctx)
	p.log.Info("endpoints changed", zap.Int("count", len(next)), zap.Strings("endpoints", next))
	if p.listener != nil {
		p.listener(slices.Clone(next))
	}
	return true
}

// Failure records a failed resolution; the last good set stays. The error
// is logged at most once per period.
func (p *Publisher) Failure(ctx context.Context, err error) {
	p.tel.resolution(ctx, false)
	if ok, suppressed := p.limiter.Allow(time.Now()); ok {
		p.mu.RLock()
		kept := len(p.current)
		p.mu.RUnlock()
		p.log.Warn("resolution failed, keeping the last good endpoints",
			zap.Error(err), zap.Int("kept_endpoints", kept), zap.Int64("failures_not_logged", suppressed))
	}
}

// Endpoints returns a copy of the last good set.
func (p *Publisher) Endpoints() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.current)
}
