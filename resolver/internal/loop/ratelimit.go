package loop

import (
	"sync/atomic"
	"time"
)

// LogLimiter lets one log line through per period and counts the others,
// so that a resolver that fails every few milliseconds does not flood the
// log while the failure count stays exact in the metrics.
type LogLimiter struct {
	period     time.Duration
	last       atomic.Int64 // unix nanos of the last line let through; 0 = never
	suppressed atomic.Int64
}

// NewLogLimiter lets one line through per period (every line if period <= 0).
func NewLogLimiter(period time.Duration) *LogLimiter { return &LogLimiter{period: period} }

// Allow reports whether a line may be logged now, and how many were
// suppressed since the last one that was.
func (l *LogLimiter) Allow(now time.Time) (ok bool, suppressed int64) {
	n := now.UnixNano()
	for {
		last := l.last.Load()
		if last != 0 && n-last < int64(l.period) {
			l.suppressed.Add(1)
			return false, 0
		}
		if l.last.CompareAndSwap(last, n) {
			return true, l.suppressed.Swap(0)
		}
	}
}
