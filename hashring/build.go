package hashring

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// build fills the slot → owner table. The owner of a slot is the endpoint
// of least preference (lowest rank of the slot, see preference), which is
// rendezvous hashing over slots. Computing every endpoint's rank of every
// slot would cost numSlots·n; instead each endpoint enumerates, block by
// block, only its m best-ranked slots (an exponential race: the winner of a
// slot almost always has one of the lowest ranks), and the few slots that no
// enumerated rank reached are settled by computing all n ranks. A slot that
// some endpoint reached with rank j < m is won with a rank <= j, and every
// rank below m was offered, so the race's minimum is the true minimum: the
// result does not depend on m, only the cost does.
func (r *Ring) build(seeds []uint64) { r.buildWith(seeds, buildWorkers()) }

// buildWith is build on at most workers goroutines.
func (r *Ring) buildWith(seeds []uint64, workers int) {
	if len(r.endpoints) <= 1 {
		return
	}
	n := len(seeds) // virtual nodes from here on
	r.blockKeys = make([]uint64, numBlocks*n)
	if len(r.endpoints) <= 1<<16 {
		r.owners16 = make([]uint16, numSlots)
	} else {
		r.owners32 = make([]uint32, numSlots)
	}
	r.buildBlocks(seeds, enumGroups(n), workers)
}

// maxBuildWorkers caps the goroutines of one build: 64 blocks of tens of
// microseconds each stop dividing well beyond a few workers.
const maxBuildWorkers = 4

func buildWorkers() int { return min(runtime.GOMAXPROCS(0), maxBuildWorkers) }

// buildBlocks computes every block's owners on the caller's goroutine and
// workers-1 helpers. Blocks are independent and each lands in its own part
// of the table, so which goroutine computes which block (claimed from a
// shared counter, so that a helper the scheduler delays costs nothing but
// its start) cannot change the result. The helpers have exited when it
// returns.
func (r *Ring) buildBlocks(seeds []uint64, groups uint32, workers int) {
	if workers <= 1 {
		var next atomic.Int32
		r.claimBlocks(seeds, groups, &next)
		return
	}
	j := &buildJob{r: r, seeds: seeds, groups: groups}
	for range workers - 1 {
		j.wg.Add(1)
		go j.help()
	}
	r.claimBlocks(seeds, groups, &j.next)
	j.wg.Wait()
}

// buildJob is what the helpers of a parallel build share.
type buildJob struct {
	r      *Ring
	seeds  []uint64
	groups uint32
	next   atomic.Int32
	wg     sync.WaitGroup
}

func (j *buildJob) help() {
	defer j.wg.Done()
	j.r.claimBlocks(j.seeds, j.groups, &j.next)
}

func (r *Ring) claimBlocks(seeds []uint64, groups uint32, next *atomic.Int32) {
	sc := scratchPool.Get().(*buildScratch)
	clear(sc.best[:])
	for {
		b := int(next.Add(1) - 1)
		if b >= numBlocks {
			break
		}
		r.buildBlock(sc, b, seeds, groups)
	}
	scratchPool.Put(sc)
}

// buildBlock derives block b's node keys, runs the race for the block and
// settles the slots it missed. It leaves sc.best cleared.
func (r *Ring) buildBlock(sc *buildScratch, b int, seeds []uint64, groups uint32) {
	n := len(seeds)
	keys := r.blockKeys[b*n : (b+1)*n]
	for v, seed := range seeds {
		key := blockKey(seed, b)
		keys[v] = key
		raceEndpoint(&sc.best, key, r.endpointOf(v), groups)
	}
	// Copy the winners out and list the slots nobody reached without a
	// branch on "reached": at small n a fifth of the slots are unreached,
	// at random, and a branch would mispredict on them.
	base := b << blockBits
	missed := 0
	if r.owners16 != nil {
		dst := (*[blockSize]uint16)(r.owners16[base:])
		for s, v := range &sc.best {
			dst[s] = uint16(^v)
			sc.missed[missed] = uint16(s)
			missed += b2i(v == 0)
		}
		r.settle(sc, keys, missed)
		for _, s := range sc.missed[:missed] {
			dst[s] = uint16(^sc.best[s&blockMask])
		}
	} else {
		dst := (*[blockSize]uint32)(r.owners32[base:])
		for s, v := range &sc.best {
			dst[s] = uint32(^v)
			sc.missed[missed] = uint16(s)
			missed += b2i(v == 0)
		}
		r.settle(sc, keys, missed)
		for _, s := range sc.missed[:missed] {
			dst[s] = uint32(^sc.best[s&blockMask])
		}
	}
	clear(sc.best[:])
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// buildScratch is the race's per-block working set (40 KiB, free of
// pointers): best holds the best complemented preference offered to each
// slot of the block so far, missed lists the slots the race did not reach.
type buildScratch struct {
	best   [blockSize]uint64
	missed [blockSize]uint16
}

// scratchPool recycles buildScratch, which would otherwise be allocated,
// or grow the caller's stack, on every build.
var scratchPool = sync.Pool{New: func() any { return new(buildScratch) }}

// basePerm4 is basePerm read four entries at a time (entry 4g+t in bits
// 16t..16t+15 of element g), so the race loads one word per four ranks.
var basePerm4 = func() (p [blockSize / 4]uint64) {
	for i, v := range basePerm {
		p[i/4] |= uint64(v) << (16 * (i % 4))
	}
	return p
}()

// raceEndpoint offers endpoint e's 4·groups best-ranked slots of a block.
// best holds complemented preferences, so that 0 means "not reached" and a
// cleared array is the starting state, and keeping the better of two is a
// branch-free max (whether the new one wins is a coin flip that a branch
// would mispredict).
//
// Ranks 4g'..4g'+3 of an endpoint map to the aligned group of four basePerm
// entries g'^(k0>>2), lane t holding rank 4g' | (t ^ k0&3), so a group is
// one load and one XOR with k1 replicated in every lane. In the complement
// of that rank, bits 0-1 are 3^(k0&3)^t: q below carries 3^(k0&3) there,
// and lane t's value is q ^ t<<52.
func raceEndpoint(best *[blockSize]uint64, key uint64, e int, groups uint32) {
	const groupMask = blockSize/4 - 1
	k0g := uint32(key>>2) & groupMask
	k1 := (key >> 12 & blockMask) * 0x0001_0001_0001_0001
	q := ^preference(uint32(key&3), key, e)
	for g := range groups {
		w := basePerm4[(g^k0g)&groupMask] ^ k1
		s := w & blockMask
		best[s] = max(best[s], q)
		s = w >> 16 & blockMask
		best[s] = max(best[s], q^1<<52)
		s = w >> 32 & blockMask
		best[s] = max(best[s], q^2<<52)
		s = w >> 48 & blockMask
		best[s] = max(best[s], q^3<<52)
		q -= 4 << 52
	}
}

// settle computes the owners of the slots the race missed (sc.missed[:count],
// whose best entries are still 0) by offering every endpoint's rank of each,
// endpoint by endpoint, with the race's branch-free max.
func (r *Ring) settle(sc *buildScratch, keys []uint64, count int) {
	missed := sc.missed[:count]
	for v, key := range keys {
		k0 := uint16(key) & blockMask
		k1 := uint16(key>>12) & blockMask
		q := ^preference(0, key, r.endpointOf(v))
		for _, s := range missed {
			rank := uint64(basePermInv[(s^k1)&blockMask] ^ k0)
			s &= blockMask
			sc.best[s] = max(sc.best[s], q-rank<<52)
		}
	}
}

// slowPreference computes a slot's least preference over every endpoint:
// the definition of its owner, which the tests hold the build to.
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

// enumGroups is how many groups of four best-ranked slots per block each
// endpoint enumerates. Enumerating a share x of its ranks costs n·x per
// slot and leaves (1-x)^n of the slots to settle at about fallbackCost·n
// each; the sum is least at x = 1 - (fallbackCost·n)^(-1/(n-1)), about
// (ln n + ln fallbackCost)/n for large n. Floating point sizes the work
// only, never the outcome.
func enumGroups(n int) uint32 {
	x := 1 - math.Pow(fallbackCost*float64(n), -1/float64(n-1))
	g := uint32(math.Ceil(x * blockSize / 4))
	return min(max(g, 1), blockSize/4)
}

// fallbackCost is the cost of settling one (endpoint, missed slot) pair
// relative to offering one rank in the race, as measured (the optimum is
// flat: 1.5 to 3 give build times within a few percent).
const fallbackCost = 2
