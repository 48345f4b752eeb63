package lbexporter_test

import (
	"fmt"

	"go.opentelemetry.io/collector/confmap"

	"github.com/tailgate-otel/tailgate/lbexporter"
	"github.com/tailgate-otel/tailgate/resolver/manual"
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

// An agent embedded in a program that knows its gateways by other means:
// the ring follows a manual.Source instead of a `resolver:` block.
func ExampleWithResolver() {
	gateways := manual.NewSource("10.0.0.1:4317", "10.0.0.2:4317")
	f := lbexporter.NewFactory(lbexporter.WithResolver(gateways.Resolver))
	cfg := f.CreateDefaultConfig().(*lbexporter.Config)
	cfg.RoutingKey = "traceID"
	fmt.Println(confmap.Validate(cfg))
	// Later, when the program learns of a third gateway, every exporter
	// built by f moves its ring:
	gateways.Set("10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317")
	// Output: <nil>
}
