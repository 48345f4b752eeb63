package loop

import (
	"context"
	"fmt"
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
	// invalidLog limits the warnings about invalid endpoints.
	invalidLog *ratelog.Limiter

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
		kind:       kind,
		log:        log.With(zap.String("resolver", kind)),
		tel:        tel,
		listener:   l,
		limiter:    ratelog.NewLimiter(logEvery),
		invalidLog: ratelog.NewLimiter(logEvery),
	}, nil
}

// Logger is the resolver's logger, tagged with its kind.
func (p *Publisher) Logger() *zap.Logger { return p.log }

// Success records a successful resolution that found eps (any order, may
// hold duplicates; the slice is not kept) and notifies the listener if the
// set changed. It reports whether it did. Endpoints that are not a valid
// host:port are dropped, counted and logged; a set larger than
// resolver.MaxEndpoints is refused whole (counted as a failed resolution,
// the last good set stays): a partial set would route differently from a
// peer that saw another part.
func (p *Publisher) Success(ctx context.Context, eps []string) bool {
	next, invalid := valid(eps)
	if invalid > 0 {
		p.tel.refused(ctx, invalid, false)
		if ok, held := p.invalidLog.Allow(time.Now()); ok {
			p.log.Warn("resolver returned endpoints that are not a valid host:port; ignoring them",
				zap.Int("invalid", invalid), zap.Int("valid", len(next)), zap.Int64("similar_not_logged", held))
		}
	}
	next = resolver.SortDedupe(next)
	if len(next) > resolver.MaxEndpoints {
		p.tel.refused(ctx, len(next), true)
		p.Failure(ctx, fmt.Errorf("%d endpoints: %w", len(next), resolver.ErrTooManyEndpoints))
		return false
	}
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

// valid returns a copy of the endpoints of eps that are a valid host:port
// (as written: a valid endpoint is never rewritten, so that rings built by
// releases that did not check stay identical), and how many were not.
func valid(eps []string) ([]string, int) {
	out := make([]string, 0, len(eps))
	invalid := 0
	for _, ep := range eps {
		if _, err := resolver.NormalizeEndpoint(ep, 0); err != nil {
			invalid++
			continue
		}
		out = append(out, ep)
	}
	return out, invalid
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
