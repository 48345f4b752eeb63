package hashring

import (
	"math"
	"slices"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// AppendChoices appends to dst up to k distinct endpoint indices for key in
// preference order and returns the extended slice; it does not allocate
// when cap(dst) suffices. Choice 0 is Index(key), and choice i+1 is the
// key's owner in the ring built without choices 0..i, so failover and
// handoff agree with what a real removal would do. Fewer than k indices are
// appended when the ring has fewer than k endpoints; none when k <= 0.
//
// The first choice is a table read; up to 4 choices cost O(n) each, more
// cost one O(n log n) sort of the key's preferences. To walk the order only
// as far as needed (failover to the first healthy endpoint), use
// IndexWhere.
func (r *Ring) AppendChoices(dst []int, key []byte, k int) []int {
	return r.appendChoices(dst, xxhash.Sum64(key), k)
}

// AppendChoicesString is AppendChoices for a string key.
func (r *Ring) AppendChoicesString(dst []int, key string, k int) []int {
	return r.appendChoices(dst, xxhash.Sum64String(key), k)
}

// IndexWhere returns the first endpoint index in key's preference order
// (the order of AppendChoices) for which ok returns true, or -1 when there
// is none or the ring is empty. It calls ok at most once per endpoint, in
// preference order, and stops at the first true: failing over past one
// unhealthy endpoint costs O(n), and even a ring with every endpoint
// unhealthy costs O(n log n). It does not allocate.
func (r *Ring) IndexWhere(key []byte, ok func(i int) bool) int {
	return r.indexWhere(xxhash.Sum64(key), ok)
}

// iterativeChoices is how many choices are worth an O(n) pass each before
// sorting all preferences once is cheaper.
const iterativeChoices = 4

func (r *Ring) appendChoices(dst []int, h uint64, k int) []int {
	n := r.Len()
	if k <= 0 || n == 0 {
		return dst
	}
	k = min(k, n)
	first := r.indexOfHash(h)
	dst = append(dst, first)
	if k == 1 {
		return dst
	}
	c := r.choiceSlot(h)
	if k > iterativeChoices {
		buf := c.sortedPreferences()
		for _, p := range (*buf)[1:k] {
			dst = append(dst, int(uint32(p)))
		}
		scratch.Put(buf)
		return dst
	}
	prev := c.endpointPreference(first)
	for range k - 1 {
		prev = c.next(prev)
		dst = append(dst, int(uint32(prev)))
	}
	return dst
}

func (r *Ring) indexWhere(h uint64, ok func(int) bool) int {
	first := r.indexOfHash(h)
	if first < 0 || ok(first) {
		return first
	}
	n := r.Len()
	if n == 1 {
		return -1
	}
	c := r.choiceSlot(h)
	prev := c.endpointPreference(first)
	for i := 1; i < n; i++ {
		if i == iterativeChoices {
			return c.firstWhere(i, ok)
		}
		prev = c.next(prev)
		if e := int(uint32(prev)); ok(e) {
			return e
		}
	}
	return -1
}

// firstWhere is indexWhere's sorted path, past the first skip choices.
func (c *choiceSlot) firstWhere(skip int, ok func(int) bool) int {
	buf := c.sortedPreferences()
	defer scratch.Put(buf)
	for _, p := range (*buf)[skip:] {
		if e := int(uint32(p)); ok(e) {
			return e
		}
	}
	return -1
}

// choiceSlot is one slot's view of the ring for computing preferences.
type choiceSlot struct {
	local     uint32   // the slot within its block
	keys      []uint64 // the block's node keys
	nodeOwner []uint32 // nil: nodes are endpoints
}

func (r *Ring) choiceSlot(h uint64) choiceSlot {
	slot := keySlot(h)
	nodes := len(r.blockKeys) / numBlocks
	return choiceSlot{
		local:     slot & blockMask,
		keys:      r.blockKeys[int(slot>>blockBits)*nodes:][:nodes],
		nodeOwner: r.nodeOwner,
	}
}

// endpointPreferences appends every endpoint's preference for the slot to
// dst, in endpoint order: that of the endpoint's best node. An endpoint's
// nodes are contiguous.
func (c *choiceSlot) endpointPreferences(dst []uint64) []uint64 {
	if c.nodeOwner == nil {
		for e, key := range c.keys {
			dst = append(dst, preference(rankOfSlot(key, c.local), key, e))
		}
		return dst
	}
	best := uint64(math.MaxUint64)
	for v, key := range c.keys {
		e := int(c.nodeOwner[v])
		best = min(best, preference(rankOfSlot(key, c.local), key, e))
		if v+1 == len(c.keys) || int(c.nodeOwner[v+1]) != e {
			dst = append(dst, best)
			best = math.MaxUint64
		}
	}
	return dst
}

// endpointPreference is endpoint e's preference for the slot.
func (c *choiceSlot) endpointPreference(e int) uint64 {
	if c.nodeOwner == nil {
		return preference(rankOfSlot(c.keys[e], c.local), c.keys[e], e)
	}
	best := uint64(math.MaxUint64)
	for v, key := range c.keys {
		if int(c.nodeOwner[v]) == e {
			best = min(best, preference(rankOfSlot(key, c.local), key, e))
		}
	}
	return best
}

// next returns the least endpoint preference strictly above prev: the
// choice after the one whose preference is prev. Preferences are distinct
// (they hold the endpoint index), so no membership test is needed.
func (c *choiceSlot) next(prev uint64) uint64 {
	best := uint64(math.MaxUint64)
	if c.nodeOwner == nil {
		for e, key := range c.keys {
			if p := preference(rankOfSlot(key, c.local), key, e); p > prev {
				best = min(best, p)
			}
		}
		return best
	}
	// A node above prev may belong to an endpoint whose best node is at or
	// below prev (already chosen): compare endpoints, not nodes.
	epBest := uint64(math.MaxUint64)
	for v, key := range c.keys {
		e := int(c.nodeOwner[v])
		epBest = min(epBest, preference(rankOfSlot(key, c.local), key, e))
		if v+1 == len(c.keys) || int(c.nodeOwner[v+1]) != e {
			if epBest > prev {
				best = min(best, epBest)
			}
			epBest = math.MaxUint64
		}
	}
	return best
}

// scratch recycles the preference buffers of long choice lists, so that
// they do not allocate in steady state.
var scratch = sync.Pool{New: func() any { return new([]uint64) }}

// sortedPreferences returns a pooled buffer holding every endpoint's
// preference for the slot in ascending order; give it back to scratch.
func (c *choiceSlot) sortedPreferences() *[]uint64 {
	buf := scratch.Get().(*[]uint64)
	prefs := c.endpointPreferences((*buf)[:0])
	slices.Sort(prefs)
	*buf = prefs
	return buf
}
