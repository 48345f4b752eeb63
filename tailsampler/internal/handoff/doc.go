// Package handoff makes gateway scale events lossless for tail sampling.
//
// Agents route every span of a trace to ring.Get(traceID) over the
// gateway set. When that set changes, the owner of many in-flight traces
// changes too: the old owner has buffered part of a trace and the new one
// receives the rest, and each would decide on a fragment. The Engine
// watches the same set (same resolver block, same hashring, same endpoint
// strings as the agents) and, on every change:
//
//   - takes out of the Buffer every undecided trace this gateway no longer
//     owns and sends it, with its original first-seen time, to its new
//     owner, which decides it on the original schedule;
//   - forwards the decisions made within `window` for traces now owned by
//     another gateway, so late spans there follow them;
//   - forwards, through Route, spans that still arrive for traces it does
//     not own (agents whose view is stale), one hop further.
//
// Drain does the same on graceful shutdown with a ring that excludes this
// gateway.
//
// With Config.Replicate, every span this gateway owns is also held by the
// trace's successor (its second ring choice) until the trace is decided:
// Replicate sends it before the processor acknowledges it, and the
// decisions follow. A successor promotes the shadows of an owner that died
// (left the set and does not answer, or came back as a new process) into
// traces of their new owner with their original first-seen; one that only
// left gracefully hands its traces off itself. See replica.go and the
// README's Replication section.
//
// # Wire format
//
// Plain OTLP/gRPC (ExportTraceServiceRequest) to the peer's dedicated
// handoff listener, never to its OTLP receiver: re-entering the receiver
// would run the gateway's whole pipeline (e.g. span metrics) a second time.
// Every ResourceSpans carries AttrHop and, for data, AttrFirstSeen; a
// ResourceSpans with AttrDecision carries only trace IDs. The receiver
// removes the markers before the data reaches the Buffer.
//
// # Trust
//
// The listener applies nothing of a request from a sender accept_from
// does not admit (the gateway set, or authenticated peers), nor of one
// whose markers are malformed or that is over max_spans_per_request or
// max_traces_per_request; decoding is linear in the request. Every
// refusal, including failed TLS handshakes, refused credentials and
// messages over the size limit, is counted by reason and logged at most
// once per interval.
//
// # Guarantees
//
//   - Owns is lock-free and allocation-free; Route allocates only when it
//     finds spans to forward and never modifies its input.
//   - A gateway whose own endpoint is not in the set (DNS lag), or that has
//     no set yet, or is shut down, owns everything: data is never forwarded
//     into the void.
//   - A gateway removed from the set after it was a member is leaving: it
//     hands everything off at once (as Drain does) and owns nothing while
//     others exist.
//   - Nothing is dropped by a failed handoff: data that cannot be delivered
//     within `window` (or before shutdown, or that the peer refuses) is
//     given back to the Buffer with its first-seen time and counted. The
//     only loss is a Buffer refusing an import (counted as spans_dropped).
//   - Delivery is at-least-once: a request whose answer is lost may be
//     both buffered by the peer and imported back here.
//   - With replication, one gateway lost at a time (crash, OOM kill, lost
//     node, restart faster than discovery) loses no acknowledged span;
//     delivery stays at-least-once (possible duplicates are counted).
//   - Forwarding stops after hop_limit hops. With rendezvous hashing every
//     hop goes to a gateway that ranks better for the trace, so views that
//     disagree produce chains, never cycles; the limit bounds the chain.
//   - Every retry re-reads the current view: data follows further ring
//     changes, and what this gateway owns again is imported here.
//
// # Concurrency
//
// All methods are safe for concurrent use. The resolver's listener runs
// the handoff in engine-owned goroutines, bounded by Shutdown. Buffer
// methods are called from those goroutines and from the gRPC handlers.
package handoff
