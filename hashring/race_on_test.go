//go:build race

package hashring

// raceEnabled reports a -race build, under which sync.Pool drops items at
// random by design, so pooled buffers may be reallocated.
const raceEnabled = true
