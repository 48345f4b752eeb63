package lbexporter

import (
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// sizerKind is protocol.otlp.sending_queue.sizer.
type sizerKind uint8

const (
	sizeRequests sizerKind = iota // one per part of a routed batch
	sizeItems                     // spans, log records or data points
	sizeBytes                     // OTLP protobuf bytes; the buffer then holds encoded parts
)

func (s sizerKind) String() string { return [...]string{"requests", "items", "bytes"}[s] }

// queueSettings is protocol.otlp.sending_queue as the per-endpoint buffers
// use it.
type queueSettings struct {
	enabled   bool
	sizer     sizerKind
	limit     int64
	consumers int
	block     bool // block_on_overflow
	wait      bool // wait_for_result
	storage   *component.ID
}

func queueSettingsOf(c *Config) queueSettings {
	q := c.Protocol.OTLP.QueueConfig
	if !q.HasValue() {
		return queueSettings{}
	}
	v := q.Get()
	s := queueSettings{
		enabled:   true,
		limit:     v.QueueSize,
		consumers: v.NumConsumers,
		block:     v.BlockOnOverflow,
		wait:      v.WaitForResult,
		storage:   v.StorageID,
	}
	switch v.Sizer {
	case exporterhelper.RequestSizerTypeItems:
		s.sizer = sizeItems
	case exporterhelper.RequestSizerTypeBytes:
		s.sizer = sizeBytes
	}
	// Validate refuses these; a Config built in code without it still works.
	if s.limit <= 0 {
		s.limit = exporterhelper.NewDefaultQueueConfig().QueueSize
	}
	if s.consumers <= 0 {
		s.consumers = 1
	}
	return s
}

// retryBackoff is protocol.otlp.retry_on_failure for one piece of data:
// exponential, randomised intervals, at least what the server asked for
// (gRPC RetryInfo), and no retry once max_elapsed_time would be passed.
type retryBackoff struct {
	cfg     configretry.BackOffConfig
	next    time.Duration
	started time.Time
}

func newRetryBackoff(cfg configretry.BackOffConfig, now time.Time) *retryBackoff {
	return &retryBackoff{cfg: cfg, next: cfg.InitialInterval, started: now}
}

// delay returns how long to wait before the next attempt after err, and
// false when there must be no next attempt.
func (r *retryBackoff) delay(now time.Time, err error) (time.Duration, bool) {
	if !r.cfg.Enabled {
		return 0, false
	}
	d := r.next
	if f := r.cfg.RandomizationFactor; f > 0 && d > 0 {
		d = time.Duration(float64(d) * (1 - f + 2*f*rand.Float64()))
	}
	if m := r.cfg.Multiplier; m > 1 {
		r.next = time.Duration(float64(r.next) * m)
	}
	if r.cfg.MaxInterval > 0 && r.next > r.cfg.MaxInterval {
		r.next = r.cfg.MaxInterval
	}
	if t := throttleDelay(err); t > d {
		d = t
	}
	if r.cfg.MaxElapsedTime > 0 && now.Add(d).Sub(r.started) > r.cfg.MaxElapsedTime {
		return d, false
	}
	return d, true
}

// throttleDelay is the retry delay a gRPC server attached to err
// (RESOURCE_EXHAUSTED or UNAVAILABLE with RetryInfo), or 0.
func throttleDelay(err error) time.Duration {
	st, ok := status.FromError(err)
	if !ok || st == nil {
		return 0
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}
