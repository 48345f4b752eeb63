//go:build !unix

package spanmetrics

import "time"

func processCPU() time.Duration { return 0 }
