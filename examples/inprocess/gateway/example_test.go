package gateway_test

import (
	"context"
	"log"
	"time"

	"github.com/tailgate-otel/tailgate/examples/inprocess/gateway"
	"github.com/tailgate-otel/tailgate/resolver/manual"
)

// A service embeds the article's gateway: OTLP/gRPC in on 127.0.0.1:4317,
// span metrics and sampled traces out to a backend.
func Example() {
	g, err := gateway.New(
		gateway.WithListenAddress("127.0.0.1:4317"),
		gateway.WithBackend("backend.example:4317", false), // TLS
		gateway.WithDecisionWait(30*time.Second),
		gateway.WithSamplingPercentage(10),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := g.Start(ctx); err != nil {
		log.Fatal(err)
	}
	// ... serve ...
	shutCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := g.Shutdown(shutCtx); err != nil { // decides and exports what it holds
		log.Print(err)
	}
}

// A gateway of a tier whose set the program owns: the same manual.Source
// feeds this gateway's handoff and the agents' rings, so when a gateway
// joins or leaves, undecided traces follow their new owner.
func ExampleWithHandoff() {
	gateways := manual.NewSource("10.0.0.7:4317", "10.0.0.8:4317")
	g, err := gateway.New(
		gateway.WithListenAddress("10.0.0.7:4317"),
		gateway.WithBackend("backend.example:4317", false),
		gateway.WithHandoff("10.0.0.7:4317", gateways.Resolver),
		gateway.WithHandoffListen("10.0.0.7:4319"),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = g // Start, serve, Shutdown as above
	// The agents: lbexporter.NewFactory(lbexporter.WithResolver(gateways.Resolver)).
	// Later, a third gateway:
	gateways.Set("10.0.0.7:4317", "10.0.0.8:4317", "10.0.0.9:4317")
}
