package hashring

import "math"

// build fills the slot → owner table. The owner of a slot is the endpoint
// of least preference (lowest rank of the slot, see preference), which is
// rendezvous hashing over slots. Computing every endpoint's rank of every
// slot would cost numSlots·n; instead each endpoint enumerates, block by
// block, only its m best-ranked slots (an exponential race: the winner of a
// slot almost always has one of the lowest ranks), and the few slots that no
// enumerated rank reached are settled by computing all n ranks. The result
// does not depend on m, only the cost does.
func (r *Ring) build(seeds []uint64) {
	if len(r.endpoints) <= 1 {
		return
	}
	n := len(seeds) // virtual nodes from here on
	r.blockKeys = make([]uint64, numBlocks*n)
	for v, seed := range seeds {
		for b := range numBlocks {
			r.blockKeys[b*n+v] = blockKey(seed, b)
		}
	}
	if len(r.endpoints) <= 1<<16 {
		r.owners16 = make([]uint16, numSlots)
	} else {
		r.owners32 = make([]uint32, numSlots)
	}
	m := enumCount(n)
	var best [blockSize]uint64
	for i := range best {
		best[i] = math.MaxUint64
	}
	for b := range numBlocks {
		keys := r.blockKeys[b*n : (b+1)*n]
		base := uint32(b) << blockBits
		for v, key := range keys {
			raceEndpoint(&best, key, r.endpointOf(v), m)
		}
		for s := range uint32(blockSize) {
			if best[s] == math.MaxUint64 {
				best[s] = r.slowPreference(keys, s)
			}
		}
		if r.owners16 != nil {
			dst := r.owners16[base : base+blockSize]
			for s, v := range best {
				dst[s] = uint16(v)
				best[s] = math.MaxUint64
			}
		} else {
			dst := r.owners32[base : base+blockSize]
			for s, v := range best {
				dst[s] = uint32(v)
				best[s] = math.MaxUint64
			}
		}
	}
}

// raceEndpoint offers endpoint e's m best-ranked slots of a block. Keeping
// the better of two preferences is a branch-free min: whether the new one
// wins is a coin flip that a branch would mispredict.
func raceEndpoint(best *[blockSize]uint64, key uint64, e int, m uint32) {
	p := preference(0, key, e)
	for j := range m {
		s := slotOfRank(key, j)
		best[s] = min(best[s], p)
		p += 1 << 52
	}
}

// slowPreference computes a slot's least preference over every endpoint.
func (r *Ring) slowPreference(keys []uint64, local uint32) uint64 {
	best := uint64(math.MaxUint64)
	for v, key := range keys {
		best = min(best, preference(rankOfSlot(key, local), key, r.endpointOf(v)))
	}
	return best
}

// endpointOf is the endpoint index of virtual node v.
func (r *Ring) endpointOf(v int) int {
	if r.nodeOwner == nil {
		return v
	}
	return int(r.nodeOwner[v])
}

// enumCount is how many best-ranked slots per block each endpoint
// enumerates. About (ln n + 1)·blockSize/n in total balances the race
// against the fallback, whose share of slots is about e^(-n·m/blockSize).
func enumCount(n int) uint32 {
	c := math.Log(float64(n)) + enumSlack
	m := uint32(math.Ceil(c * blockSize / float64(n)))
	return min(max(m, 1), blockSize)
}

const enumSlack = 1.0
