package policies

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// tokenBucket refills at rate tokens per second up to burst and starts
// full, like golang.org/x/time/rate which upstream uses. A trace costing
// more than burst can never pass, as upstream.
type tokenBucket struct {
	now   func() time.Time
	rate  float64
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(now func() time.Time, rate, burst int64) *tokenBucket {
	return &tokenBucket{now: now, rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: now()}
}

func (b *tokenBucket) take(n int64) bool {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	if float64(n) > b.tokens {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// rate_limiting

type rateLimitingPolicy struct{ bucket *tokenBucket }

func newRateLimitingPolicy(set policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg RateLimitingCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	burst, err := limitingParams("spans_per_second", cfg.SpansPerSecond, cfg.BurstCapacity)
	if err != nil {
		return nil, err
	}
	set = normalizeSettings(set)
	return &rateLimitingPolicy{bucket: newTokenBucket(set.Now, cfg.SpansPerSecond, burst)}, nil
}

func (p *rateLimitingPolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	return boolDecision(p.bucket.take(int64(t.SpanCount()))), nil
}

// Stateful: the bucket remembers what earlier traces took.
func (p *rateLimitingPolicy) Stateful() bool { return true }

// bytes_limiting

type bytesLimitingPolicy struct{ bucket *tokenBucket }

func newBytesLimitingPolicy(set policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg BytesLimitingCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	burst, err := limitingParams("bytes_per_second", cfg.BytesPerSecond, cfg.BurstCapacity)
	if err != nil {
		return nil, err
	}
	set = normalizeSettings(set)
	return &bytesLimitingPolicy{bucket: newTokenBucket(set.Now, cfg.BytesPerSecond, burst)}, nil
}

// Evaluate charges Trace.Bytes, the trace's OTLP protobuf size, as
// upstream does; the buffer computes it lazily, only for policies that ask.
func (p *bytesLimitingPolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	return boolDecision(p.bucket.take(int64(t.Bytes()))), nil
}

// Stateful: the bucket remembers what earlier traces took.
func (p *bytesLimitingPolicy) Stateful() bool { return true }

// limitingParams validates a rate and its burst; the burst defaults to
// twice the rate, as upstream.
func limitingParams(rateKey string, rate, burst int64) (int64, error) {
	var errs []error
	if rate <= 0 {
		errs = append(errs, keyError(rateKey, "must be positive, got %d", rate))
	}
	if burst < 0 {
		errs = append(errs, keyError("burst_capacity", "must not be negative, got %d", burst))
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	if burst == 0 {
		burst = 2 * rate
	}
	return burst, nil
}
