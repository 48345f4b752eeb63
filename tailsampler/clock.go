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
	// Reset re-arms the timer; a pending expiry that was not received is
	// discarded (Go 1.23+ timer semantics).
	Reset(d time.Duration)
	Stop()
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) clockTimer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop()                 { r.t.Stop() }
