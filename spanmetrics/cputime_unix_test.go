//go:build unix

package spanmetrics

import (
	"syscall"
	"time"
)

// processCPU is the process's user+system CPU time. Benchmarks report it
// next to wall time because the shared benchmark machine is oversubscribed:
// CPU time per span does not depend on how long we waited for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
