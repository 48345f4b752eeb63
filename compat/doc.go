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
package compat
