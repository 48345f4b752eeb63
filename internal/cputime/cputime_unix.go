//go:build linux || darwin || freebsd

package cputime

import "syscall"

// Process is the CPU time the process has used (user + system, every
// thread, so garbage collection and background goroutines count), in
// nanoseconds; ok is false where it is not available.
func Process() (ns int64, ok bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
