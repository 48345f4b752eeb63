// Package upstreamring reimplements the consistent-hash ring of the
// OpenTelemetry Collector contrib load-balancing exporter (v0.159.0), so
// that tests and benchmarks can put it beside tailgate's hashring: the
// benchmarks compare the two rings' speed and balance, and the migration
// test routes part of the agents by it, as agents still running the
// contrib exporter do during a rollout.
//
// It is written from the exporter's documented and observed behaviour, not
// copied: every endpoint places 200 points at crc32(endpoint ‖ i as four
// little-endian bytes) mod 131,071; a point whose position is taken moves
// to the next free position (at most 10 steps, then it is dropped); a key
// belongs to the first point at or after crc32(key) mod 131,071, wrapping
// around. The endpoint strings are the resolver's, port included, exactly
// as tailgate's ring receives them. compat's TestUpstreamRingMatchesContrib
// runs the contrib exporter over real endpoints and checks that every
// trace goes where this ring says.
package upstreamring
