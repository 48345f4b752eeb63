package lbexporter

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

var errRejected = consumererror.NewPermanent(errors.New("invalid argument"))

// spansOwnedBy counts td's spans whose owner on ring is ep.
func spansOwnedBy(td ptrace.Traces, ring *hashring.Ring, ep string) int {
	n := 0
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				if tid := sp.TraceID(); ring.Get(tid[:]) == ep {
					n++
				}
			}
		}
	}
	return n
}

// One endpoint rejects permanently while another fails transiently: the
// rejected part is dropped and counted, and the transient part is still
// retried (returned as retryable without buffers; retried in the buffer
// with them). Upstream joins both into one error that the caller's retry
// sees as permanent, which drops the transient part too.
func TestPermanentFailureNeverStopsAnotherEndpointsRetry(t *testing.T) {
	for _, mode := range []string{"synchronous", "buffered"} {
		t.Run(mode, func(t *testing.T) {
			eps := endpoints(3)
			env := newTestEnv(eps...)
			mut := []func(*Config){func(c *Config) { c.Protocol.OTLP.RetryConfig.InitialInterval = time.Millisecond }}
			if mode == "synchronous" {
				mut = append(mut, synchronous, noRetry)
			}
			l := newMemTraces(t, env, testConfig(mut...))
			rejecting, flaky := eps[0], eps[1]
			env.sinks.get(rejecting).setFail(errRejected)
			env.sinks.get(flaky).setFailTimes(errSinkDown, 3)
			td := tracegen.Batches(tracegen.Spec{Traces: 200, SpansPerTrace: 2})[0]
			ring := hashring.New(eps)
			nRejected, nFlaky := spansOwnedBy(td, ring, rejecting), spansOwnedBy(td, ring, flaky)
			require.Positive(t, nRejected)
			require.Positive(t, nFlaky)

			err := l.push(context.Background(), td)
			if mode == "synchronous" {
				require.Error(t, err)
				assert.False(t, consumererror.IsPermanent(err), "the transient part stays retryable")
				var te consumererror.Traces
				require.ErrorAs(t, err, &te)
				assert.Equal(t, nFlaky, te.Data().SpanCount(), "only the transient part comes back")
				for i := 0; err != nil && i < 5; i++ {
					err = l.push(context.Background(), te.Data())
					if err != nil {
						require.ErrorAs(t, err, &te)
					}
				}
			}
			require.NoError(t, err)
			flush(t, l)
			got := env.sinks.spansByEndpoint()
			n := 0
			for _, td := range got[flaky] {
				n += td.SpanCount()
			}
			assert.Equal(t, nFlaky, n, "the transient part arrived")
			assert.Empty(t, got[rejecting])
			assert.EqualValues(t, nRejected, counterValue(t, env.reader, "otelcol_loadbalancer_dropped_items", "endpoint", rejecting, "reason", dropRejected))
		})
	}
}

// retry_on_failure keeps upstream's meaning per endpoint: disabled, a
// failed part is dropped at once; max_elapsed_time bounds how long one part
// is retried; 0 retries until it is delivered. Every drop is counted.
func TestRetryOnFailureKeysPerEndpoint(t *testing.T) {
	tests := []struct {
		name      string
		retry     func(*configretry.BackOffConfig)
		failTimes int // transient failures before the endpoint accepts
		dropped   bool
	}{
		{"disabled: dropped at once", func(r *configretry.BackOffConfig) { r.Enabled = false }, 1, true},
		{"max_elapsed_time passed: dropped", func(r *configretry.BackOffConfig) {
			r.InitialInterval, r.MaxInterval, r.MaxElapsedTime = 10*time.Millisecond, 10*time.Millisecond, 30*time.Millisecond
		}, 1000, true},
		{"max_elapsed_time 0: retried until delivered", func(r *configretry.BackOffConfig) {
			r.InitialInterval, r.MaxInterval, r.MaxElapsedTime = time.Millisecond, 2*time.Millisecond, 0
		}, 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := endpoints(2)
			env := newTestEnv(eps...)
			l := newMemTraces(t, env, testConfig(func(c *Config) { tt.retry(&c.Protocol.OTLP.RetryConfig) }))
			bad := eps[1]
			env.sinks.get(bad).setFailTimes(errSinkDown, tt.failTimes)
			td := tracegen.Batches(tracegen.Spec{Traces: 50, SpansPerTrace: 2})[0]
			want := spansOwnedBy(td, hashring.New(eps), bad)
			require.Positive(t, want)
			pushFlush(t, l, td)
			dropped := counterValue(t, env.reader, "otelcol_loadbalancer_dropped_items", "endpoint", bad, "reason", dropRetriesExhausted)
			if tt.dropped {
				assert.EqualValues(t, want, dropped)
				assert.Empty(t, env.sinks.spansByEndpoint()[bad])
				return
			}
			assert.Zero(t, dropped)
			assert.Len(t, env.sinks.spansByEndpoint()[bad], 1)
		})
	}
}

func TestRetryBackoff(t *testing.T) {
	cfg := configretry.BackOffConfig{Enabled: true, InitialInterval: 100 * time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 400 * time.Millisecond, MaxElapsedTime: 2 * time.Second}
	start := time.Unix(1000, 0)
	bo := newRetryBackoff(cfg, start)
	for i, base := range []time.Duration{100, 200, 400, 400} {
		base *= time.Millisecond
		d, ok := bo.delay(start, errSinkDown)
		require.True(t, ok, "attempt %d", i)
		assert.GreaterOrEqual(t, d, base/2, "attempt %d", i)
		assert.LessOrEqual(t, d, base*3/2, "attempt %d", i)
	}
	_, ok := bo.delay(start.Add(1900*time.Millisecond), errSinkDown)
	assert.False(t, ok, "the next retry would pass max_elapsed_time")

	cfg.Enabled = false
	_, ok = newRetryBackoff(cfg, start).delay(start, errSinkDown)
	assert.False(t, ok)

	// The server's RetryInfo wins over a shorter backoff.
	cfg.Enabled, cfg.RandomizationFactor, cfg.MaxElapsedTime = true, 0, 0
	d, ok := newRetryBackoff(cfg, start).delay(start, retryInfo(t, codes.ResourceExhausted, 3*time.Second))
	require.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
}

func TestThrottleDelay(t *testing.T) {
	ri := retryInfo(t, codes.Unavailable, 1500*time.Millisecond)
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"plain error", errSinkDown, 0},
		{"status without details", status.Error(codes.Unavailable, "x"), 0},
		{"retry info", ri, 1500 * time.Millisecond},
		{"wrapped retry info", fmt.Errorf("endpoint x: %w", ri), 1500 * time.Millisecond},
		{"permanent wrapper", consumererror.NewPermanent(ri), 1500 * time.Millisecond},
		{"nil", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, throttleDelay(tt.err)) })
	}
}
