// Package compat holds the differential tests that keep tailgate's
// components deciding and emitting what upstream's contrib components do.
//
// It is its own module so that upstream's components (and their
// dependencies) never enter the library's dependency set. The same
// generated traces go through tailgate and through upstream, and the
// results are compared trace by trace (tail sampling), series by series
// (span metrics) and instrument by instrument (the tail sampler's own
// metrics); every difference must be one the README's compatibility
// tables list, named here with the trace property that causes it.
//
// It also runs upstream's load-balancing exporter (v0.159.0) over real
// OTLP/gRPC endpoints on loopback and checks that internal/upstreamring,
// which the hash ring's benchmarks and the migration test use in its place,
// sends every trace to the endpoint upstream's exporter sends it to.
package compat
