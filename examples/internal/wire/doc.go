// Package wire holds the OTLP/gRPC plumbing the examples' programs and tests
// share: a backend Sink that records what arrives, and a Sender that pushes
// traces to a collector.
//
// Sink counts each span once per (trace ID, span ID): retries that deliver a
// span twice do not inflate completeness figures. All its methods are safe
// for concurrent use. Sender is safe for concurrent use as well (one gRPC
// connection per address, created on first use).
package wire
