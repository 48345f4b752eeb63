package lbexporter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlpexporter"

	"github.com/tailgate-otel/tailgate/resolver"
)

// Routing keys accepted by routing_key. Which ones a signal supports is
// listed in supportedKeys.
const (
	RoutingTraceID    = "traceID"
	RoutingService    = "service"
	RoutingAttributes = "attributes"
	RoutingResource   = "resource"
	RoutingMetric     = "metric"
	RoutingStreamID   = "streamID"
)

// placeholderEndpoint satisfies otlpexporter.Config.Validate, which insists on
// an endpoint; the real one is written per backend.
const placeholderEndpoint = "placeholder:4317"

// Config is the load_balancing exporter configuration. Keys mirror upstream
// contrib's loadbalancingexporter; failover is ours and off by default.
type Config struct {
	// TimeoutSettings bounds one whole routed export (all endpoints, all
	// re-routes); 0 (default) leaves it to protocol.otlp.timeout per attempt.
	TimeoutSettings exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// QueueSettings is a queue in front of routing (off by default): queued
	// data is routed with the ring of the moment it is sent, so it survives
	// endpoint changes.
	QueueSettings configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// BackOffConfig retries the part of a routed batch that failed (off by
	// default; protocol.otlp.retry_on_failure retries per endpoint).
	BackOffConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	Protocol          Protocol        `mapstructure:"protocol"`
	Resolver          resolver.Config `mapstructure:"resolver"`
	RoutingKey        string          `mapstructure:"routing_key"`
	RoutingAttributes []string        `mapstructure:"routing_attributes"`
	Failover          FailoverConfig  `mapstructure:"failover"`

	_ struct{}
}

// Protocol holds the per-endpoint exporter template.
type Protocol struct {
	// OTLP is copied for every endpoint with endpoint overwritten. Its
	// sending_queue is each endpoint's own buffer and senders, and its
	// retry_on_failure retries per endpoint (see README, "Buffers").
	OTLP otlpexporter.Config `mapstructure:"otlp"`
}

// FailoverConfig turns on health-based failover (tailgate extension).
type FailoverConfig struct {
	// Enabled routes the keys of an unhealthy endpoint to their next ring
	// choice. This breaks trace affinity for the affected keys while the
	// endpoint is down, which is why it is off by default.
	Enabled bool `mapstructure:"enabled"`
	// MaxConsecutiveFailures failed exports mark an endpoint unhealthy.
	MaxConsecutiveFailures int `mapstructure:"max_consecutive_failures"`
	// ProbeInterval is how often an unhealthy endpoint receives live traffic
	// again to find out whether it recovered.
	ProbeInterval time.Duration `mapstructure:"probe_interval"`
}

// Sentinel errors returned by Validate (wrapped, match with errors.Is).
var (
	ErrUnknownRoutingKey        = errors.New("unknown routing key")
	ErrRoutingAttributesMissing = errors.New("routing_attributes: required when routing_key is \"attributes\"")
	ErrRoutingAttributesUnused  = errors.New("routing_attributes: only allowed when routing_key is \"attributes\"")
	ErrUnsupportedRoutingKey    = errors.New("routing_key not supported for this signal")
	// ErrEndpointBatching refuses batching inside the per-endpoint buffers:
	// batch before routing (the batch processor, or the top-level
	// sending_queue::batch), so that every endpoint gets its share at once.
	ErrEndpointBatching = errors.New("protocol::otlp::sending_queue::batch: not supported per endpoint; batch before load_balancing (batch processor or the top-level sending_queue::batch)")
)

var allKeys = []string{RoutingTraceID, RoutingService, RoutingAttributes, RoutingResource, RoutingMetric, RoutingStreamID}

// supportedKeys per signal; the first entry is the default for "".
var supportedKeys = map[string][]string{
	"traces":  {RoutingTraceID, RoutingService, RoutingAttributes},
	"metrics": {RoutingService, RoutingResource, RoutingMetric, RoutingStreamID, RoutingAttributes},
	"logs":    {RoutingService, RoutingTraceID, RoutingResource, RoutingAttributes},
}

// Validate reports every problem at once. Nested sections (resolver,
// protocol.otlp, retry, queue) are validated by their own Validate methods,
// which the collector calls recursively.
func (c *Config) Validate() error {
	var errs []error
	if c.RoutingKey != "" && !slices.Contains(allKeys, c.RoutingKey) {
		errs = append(errs, fmt.Errorf("routing_key: %w %q, want one of %s", ErrUnknownRoutingKey, c.RoutingKey, strings.Join(allKeys, ", ")))
	}
	if c.RoutingKey == RoutingAttributes {
		if len(c.RoutingAttributes) == 0 {
			errs = append(errs, ErrRoutingAttributesMissing)
		}
		for i, a := range c.RoutingAttributes {
			if a == "" {
				errs = append(errs, fmt.Errorf("routing_attributes::%d: must not be empty", i))
			}
		}
	} else if len(c.RoutingAttributes) > 0 {
		errs = append(errs, ErrRoutingAttributesUnused)
	}
	if c.Failover.Enabled {
		if c.Failover.MaxConsecutiveFailures <= 0 {
			errs = append(errs, errors.New("failover::max_consecutive_failures: must be positive"))
		}
		if c.Failover.ProbeInterval <= 0 {
			errs = append(errs, errors.New("failover::probe_interval: must be positive"))
		}
	}
	if c.TimeoutSettings.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must not be negative"))
	}
	if q := c.Protocol.OTLP.QueueConfig; q.HasValue() && q.Get().Batch.HasValue() {
		errs = append(errs, ErrEndpointBatching)
	}
	return errors.Join(errs...)
}

// routingKeyFor resolves the effective routing key of a signal.
func (c *Config) routingKeyFor(signal string) (string, error) {
	keys := supportedKeys[signal]
	if c.RoutingKey == "" {
		return keys[0], nil
	}
	if !slices.Contains(keys, c.RoutingKey) {
		return "", fmt.Errorf("routing_key: %q for %s: %w (supported: %s)", c.RoutingKey, signal, ErrUnsupportedRoutingKey, strings.Join(keys, ", "))
	}
	return c.RoutingKey, nil
}
