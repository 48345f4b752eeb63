package tailsampler

import (
	"sync"
	"time"
)

// manualClock is a manual clock: timers fire only when Advance passes them.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (f *manualClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *manualClock) NewTimer(d time.Duration) clockTimer {
	t := &manualTimer{c: f, ch: make(chan time.Time, 1)}
	f.mu.Lock()
	f.timers = append(f.timers, t)
	f.mu.Unlock()
	t.ResetAt(f.Now().Add(d))
	return t
}

// Advance moves time forward and fires every timer that became due.
func (f *manualClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.fireLocked()
	f.mu.Unlock()
}

func (f *manualClock) fireLocked() {
	for _, t := range f.timers {
		if t.active && !t.at.After(f.now) {
			t.active = false
			select {
			case t.ch <- f.now:
			default:
			}
		}
	}
}

type manualTimer struct {
	c      *manualClock
	ch     chan time.Time
	at     time.Time
	active bool
}

func (t *manualTimer) C() <-chan time.Time { return t.ch }

func (t *manualTimer) ResetAt(at time.Time) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	select {
	case <-t.ch:
	default:
	}
	t.at = at
	t.active = true
	t.c.fireLocked()
}

func (t *manualTimer) Stop() {
	t.c.mu.Lock()
	t.active = false
	t.c.mu.Unlock()
}
