// Package cputime reads the CPU time the process has used, for benchmarks
// on shared machines: wall-clock figures swing with the load, CPU time
// barely moves. Process reports ok false where it is not available.
package cputime
