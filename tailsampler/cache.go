package tailsampler

import (
	"encoding/binary"
	"math/bits"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The decision caches remember what was decided for traces whose spans
// are no longer buffered, so late spans follow the first decision.
//
// Both are fixed-size, 4-way set-associative tables allocated once: no
// allocation per entry, no pointers for the GC to scan. When a set is
// full the oldest of its four entries is replaced, so eviction is FIFO
// within a set and approximately FIFO overall.
//
// The two caches err in different directions on purpose:
//   - notSampledCache stores the full 16-byte trace ID, so a hit is exact
//     and a span of a kept trace is never dropped because of a collision;
//   - sampledCache stores a 64-bit fingerprint; a collision (about one in
//     2^64/size lookups) keeps a span that should have been dropped, which
//     is harmless.
//
// Each entry also carries the second (relative to the processor's start)
// at which the decision was made, for the sampling_late_span_age metric.
// A not-sampled entry also says whether the decision was a veto (a drop
// policy, an inverted match, maximum_trace_size_bytes): late spans of a
// vetoed trace are dropped; those of a trace that simply matched no
// policy are evaluated on their own (see shard.reviewLate).
//
// Memory: sampled 16 B per entry, not-sampled 24 B per entry.

const cacheWays = 4

type sampledCache struct {
	fps  []uint64 // 0 means empty
	at   []uint32
	next []uint8 // per set: way to replace next
	mask uint64
}

func newSampledCache(size int) *sampledCache {
	if size <= 0 {
		return nil
	}
	sets := ceilPow2((size + cacheWays - 1) / cacheWays)
	return &sampledCache{
		fps:  make([]uint64, sets*cacheWays),
		at:   make([]uint32, sets*cacheWays),
		next: make([]uint8, sets),
		mask: uint64(sets - 1),
	}
}

func fingerprint(id pcommon.TraceID) uint64 {
	fp := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])*0x9e3779b97f4a7c15
	if fp == 0 {
		fp = 1
	}
	return fp
}

// setOf mixes all 128 bits of the ID (so IDs that are not random, e.g.
// sequential or time-prefixed, still spread) into a set index.
func setOf(id pcommon.TraceID, mask uint64) uint64 {
	h := binary.LittleEndian.Uint64(id[:8]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(id[8:]), 29)
	h ^= h >> 32
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 29
	h *= 0x94d049bb133111eb
	h ^= h >> 32
	return h & mask
}

func (c *sampledCache) add(id pcommon.TraceID, at uint32) {
	if c == nil {
		return
	}
	fp := fingerprint(id)
	set := setOf(id, c.mask)
	base := int(set) * cacheWays
	for i := base; i < base+cacheWays; i++ {
		if c.fps[i] == fp || c.fps[i] == 0 {
			c.fps[i], c.at[i] = fp, at
			return
		}
	}
	w := int(c.next[set])
	c.fps[base+w], c.at[base+w] = fp, at
	c.next[set] = uint8((w + 1) % cacheWays)
}

func (c *sampledCache) get(id pcommon.TraceID) (uint32, bool) {
	if c == nil {
		return 0, false
	}
	fp := fingerprint(id)
	base := int(setOf(id, c.mask)) * cacheWays
	for i := base; i < base+cacheWays; i++ {
		if c.fps[i] == fp {
			return c.at[i], true
		}
	}
	return 0, false
}

type notSampledCache struct {
	ids  []pcommon.TraceID // zero ID means empty; the zero ID is never cached
	at   []uint32
	next []uint8
	mask uint64
}

func newNotSampledCache(size int) *notSampledCache {
	if size <= 0 {
		return nil
	}
	sets := ceilPow2((size + cacheWays - 1) / cacheWays)
	return &notSampledCache{
		ids:  make([]pcommon.TraceID, sets*cacheWays),
		at:   make([]uint32, sets*cacheWays),
		next: make([]uint8, sets),
		mask: uint64(sets - 1),
	}
}

// vetoBit marks a vetoed decision in a not-sampled entry's time, whose
// seconds need far fewer than 31 bits.
const vetoBit = 1 << 31

func (c *notSampledCache) add(id pcommon.TraceID, at uint32, veto bool) {
	if c == nil || id.IsEmpty() {
		return
	}
	at &^= vetoBit
	if veto {
		at |= vetoBit
	}
	set := setOf(id, c.mask)
	base := int(set) * cacheWays
	for i := base; i < base+cacheWays; i++ {
		if c.ids[i] == id || c.ids[i].IsEmpty() {
			c.ids[i], c.at[i] = id, at
			return
		}
	}
	w := int(c.next[set])
	c.ids[base+w], c.at[base+w] = id, at
	c.next[set] = uint8((w + 1) % cacheWays)
}

// get returns when the trace was decided and whether the decision was a
// veto.
func (c *notSampledCache) get(id pcommon.TraceID) (at uint32, veto, ok bool) {
	if c == nil || id.IsEmpty() {
		return 0, false, false
	}
	base := int(setOf(id, c.mask)) * cacheWays
	for i := base; i < base+cacheWays; i++ {
		if c.ids[i] == id {
			return c.at[i] &^ vetoBit, c.at[i]&vetoBit != 0, true
		}
	}
	return 0, false, false
}

// remove forgets id (used when a not-sampled decision is overridden by an
// imported sampled one).
func (c *notSampledCache) remove(id pcommon.TraceID) {
	if c == nil || id.IsEmpty() {
		return
	}
	base := int(setOf(id, c.mask)) * cacheWays
	for i := base; i < base+cacheWays; i++ {
		if c.ids[i] == id {
			c.ids[i] = pcommon.TraceID{}
		}
	}
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}
