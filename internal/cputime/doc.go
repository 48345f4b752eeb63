// Package cputime reads the CPU time the process has used, for benchmarks
// that report it next to wall time: the build machines are shared, and CPU
// time barely moves with their load where wall time swings by 2×.
package cputime
