package static_test

import (
	"context"
	"fmt"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/static"
)

// A Go service routes to a fixed set of gateways: the listener receives
// the normalised set once, from Start.
func Example() {
	r, err := static.New(resolver.StaticConfig{Hostnames: []string{"gateway-2", "gateway-1:4317", "::1"}},
		resolver.Settings{}, // no logs, no metrics
		func(endpoints []string) { fmt.Println("rebuild the ring with", endpoints) })
	if err != nil {
		panic(err)
	}
	_ = r.Start(context.Background())
	defer func() { _ = r.Shutdown(context.Background()) }()
	fmt.Println(len(r.Endpoints()), "endpoints")
	// Output:
	// rebuild the ring with [[::1]:4317 gateway-1:4317 gateway-2:4317]
	// 3 endpoints
}
