package policies

import (
	"context"
	"errors"
	"math"
	"math/big"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// always_sample

type alwaysSample struct{}

func newAlwaysSamplePolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var none struct{}
	if err := decodeBlock(conf, &none); err != nil {
		return nil, err
	}
	return alwaysSample{}, nil
}

func (alwaysSample) Evaluate(context.Context, policy.Trace) (policy.Decision, error) {
	return policy.Sampled, nil
}

// latency

type latencyPolicy struct {
	lowerMs, upperMs int64
}

func newLatencyPolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg LatencyCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	var errs []error
	if cfg.ThresholdMs < 0 {
		errs = append(errs, keyError("threshold_ms", "must not be negative, got %d", cfg.ThresholdMs))
	}
	if cfg.UpperThresholdMs < 0 {
		errs = append(errs, keyError("upper_threshold_ms", "must not be negative, got %d", cfg.UpperThresholdMs))
	}
	if cfg.UpperThresholdMs > 0 && cfg.UpperThresholdMs <= cfg.ThresholdMs {
		errs = append(errs, keyError("upper_threshold_ms", "must be greater than threshold_ms (%d), got %d", cfg.ThresholdMs, cfg.UpperThresholdMs))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &latencyPolicy{lowerMs: cfg.ThresholdMs, upperMs: cfg.UpperThresholdMs}, nil
}

// Evaluate uses the trace's whole span (last end minus first start), which
// the buffer keeps up to date, so no span is visited. As upstream, a trace
// is kept when it lasts longer than threshold_ms (whole milliseconds,
// truncated), or with an upper bound when threshold_ms < d <=
// upper_threshold_ms. Upstream decides the band on the running duration
// while it scans spans, so it keeps a trace as soon as a prefix of its
// spans falls in the band even when the whole trace lasts longer; the
// final duration is used here, so the band means what it says.
func (p *latencyPolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	first, last := t.FirstStart(), t.LastEnd()
	if first == 0 || last < first {
		return policy.NotSampled, nil
	}
	ms := time.Duration(last - first).Milliseconds()
	if p.upperMs == 0 {
		return boolDecision(ms > p.lowerMs), nil
	}
	return boolDecision(ms > p.lowerMs && ms <= p.upperMs), nil
}

// Stateful: with an upper bound, a trace that is in the band now may
// outgrow it with its next span.
func (p *latencyPolicy) Stateful() bool { return p.upperMs > 0 }

// span_count

type spanCountPolicy struct {
	min, max int
}

func newSpanCountPolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg SpanCountCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	var errs []error
	if cfg.MinSpans < 0 {
		errs = append(errs, keyError("min_spans", "must not be negative, got %d", cfg.MinSpans))
	}
	if cfg.MaxSpans < 0 {
		errs = append(errs, keyError("max_spans", "must not be negative, got %d", cfg.MaxSpans))
	}
	if cfg.MaxSpans > 0 && cfg.MaxSpans < cfg.MinSpans {
		errs = append(errs, keyError("max_spans", "must not be less than min_spans (%d), got %d", cfg.MinSpans, cfg.MaxSpans))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &spanCountPolicy{min: int(cfg.MinSpans), max: int(cfg.MaxSpans)}, nil
}

func (p *spanCountPolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	n := t.SpanCount()
	return boolDecision(n >= p.min && (p.max == 0 || n <= p.max)), nil
}

// Stateful: with max_spans, a trace in range now may grow out of it.
func (p *spanCountPolicy) Stateful() bool { return p.max > 0 }

// probabilistic

// defaultHashSalt is upstream's default, so that with the same salt a trace
// gets the same verdict here and in an upstream collector.
const defaultHashSalt = "default-hash-seed"

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

type probabilisticPolicy struct {
	// saltState is the FNV-1a state after the salt: hashing a trace is then
	// 16 multiply-xor steps and no allocation.
	saltState uint64
	threshold uint64
	// otelThreshold is the OpenTelemetry threshold of the percentage
	// (tracestate sampling), used only to name the deciding policy.
	otelThreshold uint64
}

func newProbabilisticPolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg ProbabilisticCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	if cfg.SamplingPercentage < 0 || cfg.SamplingPercentage > 100 || math.IsNaN(cfg.SamplingPercentage) {
		return nil, keyError("sampling_percentage", "must be between 0 and 100, got %v", cfg.SamplingPercentage)
	}
	salt := cfg.HashSalt
	if salt == "" {
		salt = defaultHashSalt
	}
	h := fnv1a(fnvOffset64, salt)
	ratio := cfg.SamplingPercentage / 100
	return &probabilisticPolicy{saltState: h, threshold: probabilityThreshold(ratio), otelThreshold: otelThreshold(ratio)}, nil
}

// maxAdjustedCount is 2^56, the range of OpenTelemetry sampling
// thresholds (W3C tracestate `ot=th`).
const maxAdjustedCount = 1 << 56

// otelThreshold is the OpenTelemetry rejection threshold of a sampling
// ratio at full precision: 2^56 − round(ratio × 2^56); 0 samples all,
// 2^56 none.
func otelThreshold(ratio float64) uint64 {
	switch {
	case ratio >= 1:
		return 0
	case !(ratio >= 1.0/maxAdjustedCount): // NaN, 0 and below the smallest probability
		return maxAdjustedCount
	}
	return maxAdjustedCount - uint64(math.Round(ratio*maxAdjustedCount))
}

func (p *probabilisticPolicy) samplingThreshold() uint64 { return p.otelThreshold }

// probabilityThreshold maps a ratio onto [0, MaxUint64] exactly as
// upstream does (a float64 cannot hold MaxUint64, hence big.Float).
func probabilityThreshold(ratio float64) uint64 {
	if ratio >= 1 {
		return math.MaxUint64
	}
	b := new(big.Float).SetUint64(math.MaxUint64)
	v, _ := b.Mul(b, big.NewFloat(ratio)).Uint64()
	return v
}

func (p *probabilisticPolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	id := t.ID()
	return boolDecision(fnv1a(p.saltState, id[:]) <= p.threshold), nil
}

// fnv1a continues the FNV-1a hash state h over s.
func fnv1a[S ~string | ~[]byte](h uint64, s S) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// trace_flags

type traceFlagsPolicy struct{ policy.SpansOnly }

func newTraceFlagsPolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var none struct{}
	if err := decodeBlock(conf, &none); err != nil {
		return nil, err
	}
	return &traceFlagsPolicy{}, nil
}

// w3cSampled is the sampled bit of the W3C trace flags, the low byte of
// the OTLP span flags.
const w3cSampled = 0x01

func (p *traceFlagsPolicy) MatchSpan(span ptrace.Span) bool { return span.Flags()&w3cSampled != 0 }

func (p *traceFlagsPolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	return boolDecision(policy.AnyMatch(t, p)), nil
}

// status_code

type statusCodePolicy struct {
	policy.SpansOnly
	codes [3]bool // indexed by ptrace.StatusCode
}

func newStatusCodePolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg StatusCodeCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.StatusCodes) == 0 {
		return nil, keyError("status_codes", "must list at least one of OK, ERROR, UNSET")
	}
	p := &statusCodePolicy{}
	var errs []error
	for i, s := range cfg.StatusCodes {
		switch s {
		case "OK":
			p.codes[ptrace.StatusCodeOk] = true
		case "ERROR":
			p.codes[ptrace.StatusCodeError] = true
		case "UNSET":
			p.codes[ptrace.StatusCodeUnset] = true
		default:
			errs = append(errs, keyError("status_codes", "[%d] unknown status code %q, supported: OK, ERROR, UNSET", i, s))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *statusCodePolicy) MatchSpan(span ptrace.Span) bool {
	c := span.Status().Code()
	return c >= 0 && int(c) < len(p.codes) && p.codes[c]
}

func (p *statusCodePolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	return boolDecision(policy.AnyMatch(t, p)), nil
}

func boolDecision(ok bool) policy.Decision {
	if ok {
		return policy.Sampled
	}
	return policy.NotSampled
}
