package tailsampler

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestNotSampledCacheIsExact(t *testing.T) {
	c := newNotSampledCache(1024)
	for i := 0; i < 1024; i++ {
		c.add(traceID(i), uint32(i), false)
	}
	// IDs that share every bit the set index uses but differ elsewhere are
	// never reported as present.
	misses := 0
	for i := 0; i < 1024; i++ {
		other := traceID(i)
		other[1] ^= 0xff
		if _, _, ok := c.get(other); !ok {
			misses++
		}
	}
	assert.Equal(t, 1024, misses)
	_, _, ok := c.get(pcommon.TraceID{})
	assert.False(t, ok, "the zero ID is never cached")
	c.add(pcommon.TraceID{}, 1, false)
	_, _, ok = c.get(pcommon.TraceID{})
	assert.False(t, ok)
}

func TestNotSampledCacheRemembersVetoes(t *testing.T) {
	c := newNotSampledCache(64)
	c.add(traceID(1), 7, true)
	c.add(traceID(2), 9, false)
	at, veto, ok := c.get(traceID(1))
	assert.True(t, ok)
	assert.True(t, veto)
	assert.Equal(t, uint32(7), at, "the veto bit does not leak into the time")
	at, veto, ok = c.get(traceID(2))
	assert.True(t, ok)
	assert.False(t, veto)
	assert.Equal(t, uint32(9), at)
	c.add(traceID(1), 11, false) // decided again: the newest decision counts
	_, veto, _ = c.get(traceID(1))
	assert.False(t, veto)
}

func TestCachesRememberAndEvictOldestInSet(t *testing.T) {
	tests := []struct {
		name string
		add  func(pcommon.TraceID, uint32)
		get  func(pcommon.TraceID) (uint32, bool)
	}{}
	sc := newSampledCache(64)
	ns := newNotSampledCache(64)
	tests = append(tests,
		struct {
			name string
			add  func(pcommon.TraceID, uint32)
			get  func(pcommon.TraceID) (uint32, bool)
		}{"sampled", sc.add, sc.get},
		struct {
			name string
			add  func(pcommon.TraceID, uint32)
			get  func(pcommon.TraceID) (uint32, bool)
		}{"not sampled", func(id pcommon.TraceID, at uint32) { ns.add(id, at, false) }, func(id pcommon.TraceID) (uint32, bool) {
			at, _, ok := ns.get(id)
			return at, ok
		}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Recent entries are found with their decision time.
			for i := 0; i < 64; i++ {
				tt.add(traceID(i), uint32(i))
			}
			hits := 0
			for i := 0; i < 64; i++ {
				if at, ok := tt.get(traceID(i)); ok {
					assert.Equal(t, uint32(i), at)
					hits++
				}
			}
			assert.Greater(t, hits, 40, "a 64-entry cache keeps most of 64 IDs")
			// After many more, the newest are all there and the size is bounded.
			for i := 64; i < 10_000; i++ {
				tt.add(traceID(i), uint32(i))
			}
			for i := 9_990; i < 10_000; i++ {
				_, ok := tt.get(traceID(i))
				assert.True(t, ok)
			}
			old := 0
			for i := 0; i < 9_000; i++ {
				if _, ok := tt.get(traceID(i)); ok {
					old++
				}
			}
			assert.LessOrEqual(t, old, 64)
		})
	}
}

func TestDisabledCaches(t *testing.T) {
	sc := newSampledCache(0)
	ns := newNotSampledCache(0)
	sc.add(traceID(1), 1)
	ns.add(traceID(1), 1, false)
	_, ok := sc.get(traceID(1))
	assert.False(t, ok)
	_, _, ok = ns.get(traceID(1))
	assert.False(t, ok)
}

func TestDeadlineQueueOrderAndCompact(t *testing.T) {
	var q deadlineQueue
	for _, at := range []int64{50, 10, 40, 30, 20, 60} {
		q.push(deadlineItem{at: at, idx: uint32(at)})
	}
	q.compact(func(it deadlineItem) bool { return it.at != 40 })
	var got []int64
	for q.len() > 0 {
		got = append(got, q.pop().at)
	}
	assert.Equal(t, []int64{10, 20, 30, 50, 60}, got)
}
