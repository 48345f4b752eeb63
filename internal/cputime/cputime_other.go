//go:build !(linux || darwin || freebsd)

package cputime

// Process is not measured on this platform.
func Process() (ns int64, ok bool) { return 0, false }
