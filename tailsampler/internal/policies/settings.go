package policies

import (
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// normalizeSettings fills what a caller may leave out, so policies never
// check for nil: a no-op logger and meter provider, and the wall clock.
func normalizeSettings(set policy.Settings) policy.Settings {
	if set.Telemetry.Logger == nil {
		set.Telemetry.Logger = zap.NewNop()
	}
	if set.Telemetry.MeterProvider == nil {
		set.Telemetry.MeterProvider = noop.NewMeterProvider()
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	return set
}
