package metrictest

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Recorder is a resolver.Listener that records every call and fails the
// test if two calls overlap.
type Recorder struct {
	mu     sync.Mutex
	calls  [][]string
	inside atomic.Int32
	t      testing.TB
	ch     chan []string
}

// NewRecorder returns a Recorder; Listen is the listener to pass.
func NewRecorder(t testing.TB) *Recorder {
	return &Recorder{t: t, ch: make(chan []string, 1024)}
}

// Listen records one call.
func (r *Recorder) Listen(eps []string) {
	if r.inside.Add(1) != 1 {
		r.t.Errorf("listener called concurrently")
	}
	defer r.inside.Add(-1)
	if !slices.IsSorted(eps) || len(slices.Compact(slices.Clone(eps))) != len(eps) {
		r.t.Errorf("listener got an unsorted or duplicated set: %v", eps)
	}
	r.mu.Lock()
	r.calls = append(r.calls, slices.Clone(eps))
	r.mu.Unlock()
	select {
	case r.ch <- slices.Clone(eps):
	default:
	}
}

// Calls returns how many times the listener was called.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// Last returns the last set received (nil if none).
func (r *Recorder) Last() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return nil
	}
	return slices.Clone(r.calls[len(r.calls)-1])
}

// WaitFor waits until the listener receives exactly want, failing after
// timeout. Sets received in between are skipped.
func (r *Recorder) WaitFor(t testing.TB, want []string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case got := <-r.ch:
			if slices.Equal(got, want) {
				return
			}
		case <-deadline:
			t.Fatalf("listener never received %v; last %v", want, r.Last())
		}
	}
}
