package manual_test

import (
	"context"
	"fmt"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/manual"
)

// A service that learns its gateways from its own control plane keeps a
// hash ring current through the same Listener contract as DNS or k8s.
func Example() {
	var ring *hashring.Ring
	r, err := manual.New(resolver.Settings{}, func(endpoints []string) {
		ring = hashring.New(endpoints)
		fmt.Println("ring of", ring.Len())
	}, "10.0.0.1:4317", "10.0.0.2:4317")
	if err != nil {
		panic(err)
	}
	_ = r.Start(context.Background())
	r.Set("10.0.0.2:4317", "10.0.0.1:4317") // same set: nothing happens
	r.Set("10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317")
	_ = r.Shutdown(context.Background())
	// Output:
	// ring of 2
	// ring of 3
}

// One Source feeds every component that must see the same gateways: here
// two listeners stand for an agent's load_balancing exporter
// (lbexporter.WithResolver(src.Resolver)) and a gateway's handoff
// (tailsampler.WithHandoffResolver(src.Resolver)).
func ExampleSource() {
	src := manual.NewSource("10.0.0.1:4317", "10.0.0.2:4317")
	var factory resolver.Factory = src.Resolver
	for _, who := range []string{"agent", "gateway"} {
		r, err := factory(resolver.Settings{}, func(endpoints []string) {
			fmt.Println(who, "sees", endpoints)
		})
		if err != nil {
			panic(err)
		}
		_ = r.Start(context.Background())
		defer func() { _ = r.Shutdown(context.Background()) }()
	}
	src.Set("10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317")
	// Unordered output:
	// agent sees [10.0.0.1:4317 10.0.0.2:4317]
	// gateway sees [10.0.0.1:4317 10.0.0.2:4317]
	// agent sees [10.0.0.1:4317 10.0.0.2:4317 10.0.0.3:4317]
	// gateway sees [10.0.0.1:4317 10.0.0.2:4317 10.0.0.3:4317]
}
