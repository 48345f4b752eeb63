// Package gateway embeds the reference gateway tier in a Go program, with no
// YAML: an OTLP/gRPC receiver, tailgate's span_metrics connector counting
// every span before sampling, tailgate's tail_sampling processor with the
// reference configuration's three policies (errors, slow traces, a probabilistic share), and
// an OTLP/gRPC exporter to a backend. Each part is built in code from its
// factory, exactly as a collector would build it from
// examples/configs/gateway-config.yaml.
//
// Data flow: receiver → (span_metrics → metrics exporter or the caller's
// consumer.Metrics) and (tail_sampling → traces exporter). Every span reaches
// span_metrics whatever the sampling decision, so the RED metrics describe
// all traffic.
//
// Lifecycle: Start builds nothing (New does) and starts the parts from the
// backend up, so the receiver accepts spans only once everything behind it
// runs; a failing Start shuts down what it started. Shutdown stops the
// receiver first, then lets the sampler decide and forward what it holds and
// the connector flush its series, then drains the exporters. Shutdown is
// idempotent, safe before Start and honours its context's deadline. A
// Gateway is safe for concurrent use; Start may be called once.
//
// Scale events: WithHandoff turns on the tail sampler's handoff, fed by a
// resolver.Factory of the gateway set. A program that knows its gateways
// by its own means holds them in a manual.Source and gives its Resolver to
// every gateway (WithHandoff) and to its agents' load_balancing exporters
// (lbexporter.WithResolver): one Set moves every ring at once, and each
// gateway hands the undecided traces it no longer owns to their new owner.
//
// This package is an example to copy, not a dependency: everything it
// uses is the public API of the tailgate module and of the collector.
package gateway
