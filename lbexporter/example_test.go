package lbexporter_test

import (
	"fmt"

	"go.opentelemetry.io/collector/confmap"

	"github.com/tailgate-otel/tailgate/lbexporter"
)

// Building the exporter's config by hand, as an in-process agent would.
func ExampleNewFactory() {
	f := lbexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*lbexporter.Config)
	err := confmap.NewFromStringMap(map[string]any{
		"routing_key": "traceID",
		"resolver":    map[string]any{"static": map[string]any{"hostnames": []any{"gw-1", "gw-2:5317"}}},
	}).Unmarshal(cfg)
	fmt.Println(f.Type(), err, confmap.Validate(cfg), cfg.Resolver.Static.Hostnames)
	// Output: load_balancing <nil> <nil> [gw-1 gw-2:5317]
}
