package gateway_test

import (
	"context"
	"log"
	"time"

	"github.com/tailgate-otel/tailgate/examples/inprocess/gateway"
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
