// Package failovermark is the wire contract between the load-balancing
// exporter and the tail sampler's handoff for data that an agent failed
// over: when an endpoint is unhealthy, the exporter sends the keys it owns
// to their next ring choice and marks those requests with a gRPC metadata
// entry; a gateway that receives a marked request keeps its spans instead
// of forwarding them to their owner under its own view of the ring, which
// is the endpoint the agent just found unreachable.
//
// The mark travels as request metadata, not as an attribute, so it never
// reaches a backend and never changes span metrics or routing keys. It is
// visible to a processor that runs on the receiver's context (tail_sampling
// placed before any batch processor, as in the reference gateway config).
package failovermark
