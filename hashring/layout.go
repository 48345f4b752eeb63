package hashring

// The constants and functions in this file are the wire contract: every
// agent of a fleet, whatever its release, must compute the same owner for
// the same endpoint set and key. Changing any of them reroutes traffic in a
// mixed-version fleet, which is why golden_test.go pins known answers.

const (
	// slotBits sets the number of slots (2^18). A key's slot is the top
	// slotBits bits of its 64-bit xxhash. The slot count bounds balance:
	// an endpoint's share has a relative deviation of about sqrt(n/slots).
	slotBits = 18
	numSlots = 1 << slotBits

	// blockBits splits the slots into blocks of 4096. Each endpoint ranks
	// the slots of every block with its own permutation, and the build works
	// block by block so that its working set stays in L1.
	blockBits = 12
	blockSize = 1 << blockBits
	blockMask = blockSize - 1
	numBlocks = numSlots / blockSize

	// permSeed seeds the fixed base permutation of [0, blockSize).
	permSeed = 0x7461696c67617465 // "tailgate"
)

// basePerm and basePermInv are a fixed pseudo-random permutation of
// [0, blockSize) and its inverse, generated once from permSeed with
// Fisher-Yates driven by splitmix64, so no table has to be shipped.
var basePerm, basePermInv = makeBasePerm()

func makeBasePerm() (perm, inv [blockSize]uint16) {
	for i := range perm {
		perm[i] = uint16(i)
	}
	state := uint64(permSeed)
	for i := blockSize - 1; i > 0; i-- {
		state += 0x9e3779b97f4a7c15
		j := int(mix64(state) % uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	for i, p := range perm {
		inv[p] = uint16(i)
	}
	return perm, inv
}

// mix64 is the splitmix64 finaliser: a well-known bijective mixer.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// blockKey derives an endpoint's permutation of block b from the endpoint's
// seed. Its two low 12-bit fields are XOR keys around one round of basePerm:
//
//	slot = P[rank ^ k0] ^ k1    rank = Pinv[slot ^ k1] ^ k0
//
// so an endpoint's rank of any slot is computable directly (AppendChoices,
// the build's fallback) and its slots are enumerable in rank order (the
// build's race).
func blockKey(seed uint64, b int) uint64 {
	return mix64(seed ^ (uint64(b)+1)*0x9e3779b97f4a7c15)
}

func slotOfRank(key uint64, rank uint32) uint32 {
	return (uint32(basePerm[(rank^uint32(key))&blockMask]) ^ uint32(key>>12)) & blockMask
}

func rankOfSlot(key uint64, slot uint32) uint32 {
	return (uint32(basePermInv[(slot^uint32(key>>12))&blockMask]) ^ uint32(key)) & blockMask
}

// preference is endpoint e's position in the preference order of a slot
// of block b: the slot's owner is the endpoint with the least preference,
// the runner-up the next, and so on. It packs, most significant first, e's
// rank of the slot (12 bits), a 20-bit priority of e in block b that breaks
// rank ties without favouring any endpoint across blocks, and e's index in
// the sorted set (32 bits), which makes the order total. Comparing indices
// is comparing endpoint names, so the order does not depend on the rest of
// the set: removing an endpoint never reorders the others.
func preference(rank uint32, key uint64, e int) uint64 {
	return uint64(rank)<<52 | tieBits(key) | uint64(e)
}

// tieBits is the priority field of preference, from the bits of the block
// key that the permutation does not use.
func tieBits(key uint64) uint64 { return key >> 44 << 32 }

// nodeSeed is the hash seed of virtual node i >= 1 of a weighted endpoint.
func nodeSeed(seed uint64, i int) uint64 {
	return mix64(seed ^ uint64(i)*0xd6e8feb86659fd93)
}

// endpointSeed is the endpoint's identity in the layout.
func endpointSeed(endpoint string) uint64 { return xxhashString(endpoint) }

// keySlot maps a key hash to its slot.
func keySlot(h uint64) uint32 { return uint32(h >> (64 - slotBits)) }
