package handoff

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// rateLog logs at most once per interval; the lines it skips are counted
// and reported with the next one, so an operator sees the volume without a
// log storm (the metrics count every occurrence).
type rateLog struct {
	logger   *zap.Logger
	interval time.Duration
	next     atomic.Int64 // unix nanos before which nothing is logged
	skipped  atomic.Int64
}

func newRateLog(l *zap.Logger, interval time.Duration) *rateLog {
	if l == nil {
		l = zap.NewNop()
	}
	return &rateLog{logger: l, interval: interval}
}

func (r *rateLog) warn(msg string, fields ...zap.Field) {
	now := time.Now().UnixNano()
	next := r.next.Load()
	if now < next || !r.next.CompareAndSwap(next, now+int64(r.interval)) {
		r.skipped.Add(1)
		return
	}
	if n := r.skipped.Swap(0); n > 0 {
		fields = append(fields, zap.Int64("similar_not_logged", n))
	}
	r.logger.Warn(msg, fields...)
}
