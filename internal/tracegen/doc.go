// Package tracegen builds deterministic synthetic trace workloads for the
// tests and benchmarks of tailgate's components.
//
// The same Spec always yields byte-identical batches, so a benchmark in one
// package and a test in another describe the same workload, and figures in
// the READMEs can be reproduced. Two layouts matter for tail sampling:
// Whole (every batch carries complete traces, the friendly case) and
// Interleaved (every batch carries one span of each of many traces, which is
// what an agent tier that batches by time produces).
package tracegen
