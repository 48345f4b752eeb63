package tailsampler

import "time"

// clock is the processor's time source. Decisions are scheduled against it
// so tests can move time by hand instead of sleeping.
type clock interface {
	Now() time.Time
	NewTimer(d time.Duration) clockTimer
}

// clockTimer is the part of time.Timer the deciders use.
type clockTimer interface {
	C() <-chan time.Time
	// ResetAt re-arms the timer to fire at an instant; a pending expiry
	// that was not received is discarded (Go 1.23+ timer semantics). An
	// instant rather than a duration, so that the deadline a decider
	// computed from its reading of the clock stays the deadline even if
	// time moves before the timer is armed (it does, under a test clock).
	ResetAt(at time.Time)
	Stop()
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) clockTimer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time  { return r.t.C }
func (r realTimer) ResetAt(at time.Time) { r.t.Reset(time.Until(at)) }
func (r realTimer) Stop()                { r.t.Stop() }
