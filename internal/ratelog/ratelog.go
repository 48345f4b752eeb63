package ratelog

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Limiter lets one event through per interval and counts the others.
// The zero value lets every event through.
type Limiter struct {
	interval time.Duration
	last     atomic.Int64 // unix nanos of the last event let through; 0 = never
	held     atomic.Int64
}

// NewLimiter lets one event through per interval (every event if
// interval <= 0).
func NewLimiter(interval time.Duration) *Limiter { return &Limiter{interval: interval} }

// Allow reports whether an event may go through at now, and how many were
// held back since the last one that did.
func (l *Limiter) Allow(now time.Time) (ok bool, held int64) {
	n := now.UnixNano()
	for {
		last := l.last.Load()
		if last != 0 && n-last < int64(l.interval) {
			l.held.Add(1)
			return false, 0
		}
		if l.last.CompareAndSwap(last, n) {
			return true, l.held.Swap(0)
		}
	}
}

// Logger writes warnings through one Limiter per message, so a frequent
// warning never hides a different one: "next consumer refused" and
// "dropping sampled spans at shutdown" each get their own interval.
// Messages are the constant strings of call sites, so the set of limiters
// stays as small as the set of call sites.
type Logger struct {
	log      *zap.Logger
	interval time.Duration
	limiters sync.Map // message -> *Limiter
}

// New returns a Logger writing to log (a no-op logger when nil) each
// message at most once per interval.
func New(log *zap.Logger, interval time.Duration) *Logger {
	if log == nil {
		log = zap.NewNop()
	}
	return &Logger{log: log, interval: interval}
}

// Warn writes msg unless the same message was written less than an
// interval ago.
func (r *Logger) Warn(msg string, fields ...zap.Field) { r.WarnAt(time.Now(), msg, fields...) }

// WarnAt is Warn for callers that run on their own clock.
func (r *Logger) WarnAt(now time.Time, msg string, fields ...zap.Field) {
	ok, held := r.limiter(msg).Allow(now)
	if !ok {
		return
	}
	if held > 0 {
		fields = append(fields, zap.Int64("similar_not_logged", held))
	}
	r.log.Warn(msg, fields...)
}

// limiter returns msg's limiter; only a message's first warning allocates.
func (r *Logger) limiter(msg string) *Limiter {
	if l, ok := r.limiters.Load(msg); ok {
		return l.(*Limiter)
	}
	l, _ := r.limiters.LoadOrStore(msg, NewLimiter(r.interval))
	return l.(*Limiter)
}
