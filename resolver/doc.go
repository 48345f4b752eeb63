// Package resolver discovers the set of gateway endpoints ("host:port") that
// an agent routes to, and tells a Listener whenever that set changes.
//
// The root package holds only the contract: the Resolver interface, the
// Listener callback, the Config block (the `resolver:` key of the
// load-balancing exporter) and the endpoint parsing helpers. It links no
// Kubernetes client. Each mechanism lives in its own sub-package so that a
// program that imports the static or DNS resolver does not link client-go:
//
//   - resolver/static: a fixed list;
//   - resolver/dns: periodic A/AAAA (or SRV) lookups, through the system
//     resolver or one nameserver queried directly;
//   - resolver/k8s: an informer on discovery.k8s.io/v1 EndpointSlices;
//   - resolver/all: New dispatches on whichever block of Config is set.
//
// # Guarantees
//
// Every resolver built here keeps these promises:
//
//   - The Listener receives the full set, sorted and de-duplicated, only
//     when it differs from the previous one. Calls are never concurrent with
//     each other, and none happens after Shutdown returns.
//   - Discovery prefers stale to partial: a lookup that fails, times out or
//     returns a transport-level error keeps the last good set, counts
//     otelcol_loadbalancer_num_resolutions{success="false"} and is retried
//     with exponential backoff. Only an authoritative "nothing there" answer
//     (NXDOMAIN, no ready endpoints) empties the set.
//   - Start never fails because discovery fails. It makes the first attempt
//     synchronously, bounded by the mechanism's timeout, so that a healthy
//     setup has endpoints when Start returns.
//   - Shutdown is idempotent, safe before Start, honours its context and
//     stops every goroutine the resolver started.
//   - Endpoints returns a copy; callers may keep or modify it.
package resolver
