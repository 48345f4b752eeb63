package tailsampler

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"

	"github.com/tailgate-otel/tailgate/tailsampler/internal/policies"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// Sampling strategies (`sampling_strategy`).
const (
	// StrategyTraceComplete buffers a trace for decision_wait and evaluates
	// it once, on everything that arrived (the default).
	StrategyTraceComplete = "trace-complete"
	// StrategySpanIngest evaluates the buffered trace on every batch: a
	// keep or drop verdict is final at once; a trace still undecided at
	// decision_wait is not sampled. Stateful policies are refused.
	StrategySpanIngest = "span-ingest"
)

const maxShards = 256

// Default cache sizes. Upstream leaves the caches off; here they are on so
// that late spans follow the first decision. Cost: 16 B per sampled entry,
// 24 B per not-sampled entry (about 4 MB for the defaults).
const (
	defaultSampledCacheSize    = 100_000
	defaultNonSampledCacheSize = 100_000
)

// ErrInvalidConfig wraps every Validate error.
var ErrInvalidConfig = errors.New("invalid tail_sampling configuration")

// Config is the `tail_sampling` processor configuration. Every upstream key
// is accepted with upstream's meaning; new keys have safe defaults.
type Config struct {
	// DecisionWait is how long after a trace's first span it is decided.
	DecisionWait time.Duration `mapstructure:"decision_wait"`
	// DecisionWaitAfterRootReceived, when positive, decides a trace this
	// long after its root span arrived, if that comes before DecisionWait.
	DecisionWaitAfterRootReceived time.Duration `mapstructure:"decision_wait_after_root_received"`
	// NumTraces bounds the traces buffered (pending a decision). When it is
	// reached, the oldest pending trace is decided early on what arrived.
	NumTraces uint64 `mapstructure:"num_traces"`
	// ExpectedNewTracesPerSec sizes the trace index up front.
	ExpectedNewTracesPerSec uint64 `mapstructure:"expected_new_traces_per_sec"`
	// BlockOnOverflow makes ConsumeTraces wait (honouring its context) for
	// room instead of deciding the oldest trace early.
	BlockOnOverflow bool `mapstructure:"block_on_overflow"`
	// DecisionCache sizes the caches of past decisions.
	DecisionCache DecisionCacheConfig `mapstructure:"decision_cache"`
	// SampledCacheSize and NonSampledCacheSize are the flat spelling of
	// the decision_cache keys, directly under tail_sampling, that published
	// gateway configurations use; they mean the same. Setting both spellings to
	// different values is an error. In code, set DecisionCache instead.
	SampledCacheSize    *uint64 `mapstructure:"sampled_cache_size"`
	NonSampledCacheSize *uint64 `mapstructure:"non_sampled_cache_size"`
	// SampleOnFirstMatch stops evaluating policies at the first that samples.
	SampleOnFirstMatch bool `mapstructure:"sample_on_first_match"`
	// DropPendingTracesOnShutdown drops (and counts) pending traces at
	// shutdown instead of deciding them on what arrived.
	DropPendingTracesOnShutdown bool `mapstructure:"drop_pending_traces_on_shutdown"`
	// MaximumTraceSizeBytes, when positive, drops a trace whose buffered
	// spans exceed this encoded size, and its later spans.
	MaximumTraceSizeBytes uint64 `mapstructure:"maximum_trace_size_bytes"`
	// NumShards partitions traces by ID; each shard has its own index,
	// lock and decider. 0 (the default here) means one per core.
	NumShards int `mapstructure:"num_shards"`
	// SamplingStrategy is trace-complete (default) or span-ingest.
	SamplingStrategy string `mapstructure:"sampling_strategy"`
	// Policies decide whether a trace is kept. Required.
	Policies []PolicyCfg `mapstructure:"policies"`

	// MaxBufferedBytes (new), when positive, bounds the encoded size of
	// buffered spans; when reached, the oldest trace is decided early.
	MaxBufferedBytes uint64 `mapstructure:"max_buffered_bytes"`
	// RecordPolicy (new) writes upstream's `tailsampling.policy` attribute,
	// naming the policy that sampled the trace, on every forwarded span.
	RecordPolicy bool `mapstructure:"record_policy"`
	// ReevaluateLateSpans (new): late spans of a trace decided not sampled
	// because no policy matched it are evaluated on their own, and
	// forwarded when a policy keeps them (late.go). Off, as upstream: they
	// follow the not-sampled decision.
	ReevaluateLateSpans bool `mapstructure:"reevaluate_late_spans"`
	// Handoff (new), when the block is present, hands pending traces and
	// recent decisions to their new owner when the gateway set changes
	// and on graceful shutdown (see handoff_processor.go). Absent: off,
	// and the processor behaves exactly as without it.
	Handoff configoptional.Optional[HandoffConfig] `mapstructure:"handoff"`

	// registry is the policy types this config may use: built-ins plus
	// WithPolicyType registrations, carried from the factory.
	registry    map[string]policy.Factory
	registryErr error
}

// DecisionCacheConfig is upstream's `decision_cache` block.
type DecisionCacheConfig struct {
	// SampledCacheSize is how many kept trace IDs are remembered.
	SampledCacheSize uint64 `mapstructure:"sampled_cache_size"`
	// NonSampledCacheSize is how many dropped trace IDs are remembered.
	NonSampledCacheSize uint64 `mapstructure:"non_sampled_cache_size"`
}

func createDefaultConfig(o *options) *Config {
	return &Config{
		DecisionWait: 30 * time.Second,
		NumTraces:    50_000,
		DecisionCache: DecisionCacheConfig{
			SampledCacheSize:    defaultSampledCacheSize,
			NonSampledCacheSize: defaultNonSampledCacheSize,
		},
		SamplingStrategy: StrategyTraceComplete,
		Handoff:          configoptional.Default(defaultHandoffConfig(o)),
		registry:         o.registry(),
		registryErr:      o.err,
	}
}

// Unmarshal decodes the configuration and folds the flat cache keys into
// decision_cache when only the flat spelling is present.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := conf.Unmarshal(c); err != nil {
		return err
	}
	if c.SampledCacheSize != nil && !conf.IsSet("decision_cache::sampled_cache_size") {
		c.DecisionCache.SampledCacheSize = *c.SampledCacheSize
	}
	if c.NonSampledCacheSize != nil && !conf.IsSet("decision_cache::non_sampled_cache_size") {
		c.DecisionCache.NonSampledCacheSize = *c.NonSampledCacheSize
	}
	return nil
}

func (c *Config) policyTypes() map[string]policy.Factory {
	if c.registry != nil {
		return c.registry
	}
	return policies.Builtin()
}

func (c *Config) shardCount() int {
	if c.NumShards <= 0 {
		return defaultShards()
	}
	return c.NumShards
}

// statefulError says why span-ingest refuses the named policies.
func statefulError(names []string) error {
	return fmt.Errorf("sampling_strategy: %q evaluates a trace on every batch, so it cannot use a %w (a budget, or a bound a growing trace may cross): %s",
		StrategySpanIngest, ErrStatefulPolicy, strings.Join(names, ", "))
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.registryErr != nil {
		errs = append(errs, c.registryErr)
	}
	if c.DecisionWait <= 0 {
		add("decision_wait: must be positive, got %s", c.DecisionWait)
	}
	if c.DecisionWaitAfterRootReceived < 0 {
		add("decision_wait_after_root_received: must not be negative, got %s", c.DecisionWaitAfterRootReceived)
	}
	if c.NumTraces == 0 {
		add("num_traces: must be positive")
	}
	if c.NumShards < 0 || c.NumShards > maxShards {
		add("num_shards: must be between 1 and %d (0 for one per core), got %d", maxShards, c.NumShards)
	}
	switch c.SamplingStrategy {
	case "", StrategyTraceComplete, StrategySpanIngest:
	default:
		add("sampling_strategy: must be %q or %q, got %q", StrategyTraceComplete, StrategySpanIngest, c.SamplingStrategy)
	}
	if c.SampledCacheSize != nil && *c.SampledCacheSize != c.DecisionCache.SampledCacheSize {
		add("sampled_cache_size (%d) and decision_cache::sampled_cache_size (%d): set one spelling, or both to the same value",
			*c.SampledCacheSize, c.DecisionCache.SampledCacheSize)
	}
	if c.NonSampledCacheSize != nil && *c.NonSampledCacheSize != c.DecisionCache.NonSampledCacheSize {
		add("non_sampled_cache_size (%d) and decision_cache::non_sampled_cache_size (%d): set one spelling, or both to the same value",
			*c.NonSampledCacheSize, c.DecisionCache.NonSampledCacheSize)
	}
	if len(c.Policies) == 0 {
		add("policies: at least one policy is required")
	} else if err := policies.Validate(c.Policies, c.policyTypes()); err != nil {
		errs = append(errs, err)
	} else if c.SamplingStrategy == StrategySpanIngest {
		if names := policies.StatefulNames(c.Policies, c.policyTypes()); len(names) > 0 {
			errs = append(errs, statefulError(names))
		}
	}
	if h := c.Handoff.Get(); h != nil {
		// Its messages already name their keys (handoff::...).
		if err := h.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}
