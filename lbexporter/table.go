package lbexporter

import (
	"time"

	"github.com/tailgate-otel/tailgate/hashring"
)

// table is one immutable routing state: a ring and the backend of each of
// its endpoints (backends[i] serves ring.Endpoint(i)). A new endpoint set
// builds a new table whose backends are already started, then swaps it in
// with one atomic store, so routing never waits for an exporter to start.
type table[T any] struct {
	ring     *hashring.Ring
	backends []*backend[T]
}

func (t *table[T]) len() int {
	if t == nil {
		return 0
	}
	return t.ring.Len()
}

// router maps keys to backend indices for one call. avail is nil unless
// failover is on and some backend is unhealthy; it is a snapshot taken at
// the start of the call so that every key of a call sees the same health.
type router struct {
	ring     *hashring.Ring
	avail    []bool
	availBuf []bool
	// moved[i] reports that backend i received keys whose owner was
	// unavailable (valid while avail is not nil): its part is failed-over
	// data and is sent with the failover mark.
	moved    []bool
	movedBuf []bool
}

// route returns the index of the backend for key.
func (r *router) route(key []byte) int {
	i := r.ring.Index(key)
	if r.avail == nil || r.avail[i] {
		return i
	}
	j := r.next(key, i)
	if j != i {
		r.moved[j] = true
	}
	return j
}

// failedOver reports whether backend i's part holds failed-over keys.
func (r *router) failedOver(i int) bool { return r.avail != nil && r.moved[i] }

// next walks the key's ring preference order to the first available
// backend; the owner is kept when none is available. IndexWhere pays one
// O(n) step per unavailable backend it skips, where listing every choice
// would sort all n preferences for each failed-over key.
func (r *router) next(key []byte, owner int) int {
	if i := r.ring.IndexWhere(key, r.available); i >= 0 {
		return i
	}
	return owner
}

func (r *router) available(i int) bool { return r.avail[i] }

// snapshot prepares r for one call over t. With failover on, unhealthy
// backends are unavailable except one whose probe is due, which this call
// claims (its data is the probe).
func snapshot[T any](r *router, t *table[T], failover bool, now time.Time) {
	r.ring = t.ring
	r.avail = nil
	if !failover {
		return
	}
	n := len(t.backends)
	if cap(r.availBuf) < n {
		r.availBuf = make([]bool, n)
		r.movedBuf = make([]bool, n)
	}
	avail := r.availBuf[:n]
	down, some := false, false
	for i, b := range t.backends {
		ok := true
		if b.unhealthy.Load() {
			down = true
			ok = b.claimProbe(now)
		}
		avail[i] = ok
		some = some || ok
	}
	if down && some {
		// When everything is down, keep affinity rather than scatter.
		r.avail = avail
		r.moved = r.movedBuf[:n]
		clear(r.moved)
	}
}
