package spanmetrics

import (
	"bytes"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// kind says which metric a series feeds. When calls and duration use the
// same dimensions (the common case) one kindCombined series feeds both, so
// a span costs one lookup.
type kind uint8

const (
	kindCombined kind = iota // calls + duration
	kindCalls                // calls only (calls_dimensions set)
	kindDuration             // duration only (histogram::dimensions set)
	kindEvents               // events
	numKinds
)

func (k kind) hasCalls() bool    { return k == kindCombined || k == kindCalls }
func (k kind) hasDuration() bool { return k == kindCombined || k == kindDuration }

type exemplar struct {
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
	value   float64
	ts      pcommon.Timestamp
}

// series is one data point stream. Its key and attributes are immutable
// after creation; the counters are guarded by the owning shard's lock.
type series struct {
	key   []byte // canonical encoding, compared on hash hits
	hash  uint64
	next  *series // hash collision chain
	res   *resource
	seq   uint64
	kind  kind
	attrs pcommon.Map // our own copy, never the input's

	start    pcommon.Timestamp // creation time: cumulative start
	lastEmit pcommon.Timestamp // delta: end of the last emitted point
	lastSeen int64             // unix nanos of the last update
	dirty    bool              // updated since the last flush

	count   uint64
	sum     float64
	buckets []uint64  // explicit histogram
	expo    *expoHist // exponential histogram
	ex      []exemplar

	// Output-order bookkeeping, touched only by the flush goroutine (under
	// flushMu and, for listed/snapGen/snapIdx/removed, the shard lock).
	listed  bool   // in flushBuffers.order
	removed bool   // taken out of its shard; dropped from order after its last emission
	snapGen uint64 // flush generation of the snapshot at snapIdx
	snapIdx int
}

// shard is one lock's worth of series. Series are spread over shards by key
// hash so that concurrent ConsumeTraces calls rarely meet on a lock.
type shard struct {
	mu     sync.Mutex
	series map[uint64]*series
	n      int
	_      [40]byte // keep neighbouring shard locks off one cache line
}

func (sh *shard) find(h uint64, key []byte) *series {
	for s := sh.series[h]; s != nil; s = s.next {
		if bytes.Equal(s.key, key) {
			return s
		}
	}
	return nil
}

func (sh *shard) insert(s *series) {
	s.next = sh.series[s.hash]
	sh.series[s.hash] = s
	sh.n++
}

func (sh *shard) remove(s *series) {
	head := sh.series[s.hash]
	if head == s {
		if s.next == nil {
			delete(sh.series, s.hash)
		} else {
			sh.series[s.hash] = s.next
		}
	} else {
		for p := head; p != nil; p = p.next {
			if p.next == s {
				p.next = s.next
				break
			}
		}
	}
	s.next = nil
	s.removed = true
	sh.n--
	s.res.nSeries[s.kind].Add(-1)
}

// resource groups the series of one (filtered) resource. attrs is a copy
// taken when the resource was first seen.
type resource struct {
	key      []byte
	hash     uint64
	next     *resource
	id       uint64
	attrs    pcommon.Map
	lastSeen atomic.Int64
	nSeries  [numKinds]atomic.Int64
	// evicted resources (resource_metrics_cache_size) are emitted once more
	// and then dropped; expired ones (metrics_expiration) are dropped.
	evicted atomic.Bool
	expired atomic.Bool
}
