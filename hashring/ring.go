package hashring

import (
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Ring maps keys onto a set of endpoints. It is immutable once built and
// safe for concurrent use; rebuild it with New when the set changes. A nil
// *Ring behaves as the empty ring, so an atomic.Pointer[Ring] that was
// never stored to can be used as is.
type Ring struct {
	endpoints []string // sorted, de-duplicated, no empty string
	// An endpoint of weight w takes part in the race as w virtual nodes.
	// nodeOwner[v] is the endpoint index of virtual node v; nil when every
	// weight is 1 and nodes are endpoints.
	nodeOwner []uint32
	// blockKeys[b*nodes+v] is virtual node v's permutation key for block b.
	blockKeys []uint64
	// owner of every slot: owners16 when the set fits 16 bits (the table
	// then stays in L2), owners32 otherwise. Both are nil for n <= 1.
	owners16 []uint16
	owners32 []uint32
}

// New builds the ring of the given endpoints. Order and duplicates do not
// matter and empty strings are ignored: two rings built from the same set
// map every key identically, in every process and every release.
func New(endpoints []string, opts ...Option) *Ring {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	eps := make([]string, 0, len(endpoints))
	for _, e := range endpoints {
		if e != "" {
			eps = append(eps, e)
		}
	}
	slices.Sort(eps)
	eps = slices.Compact(eps)
	r := &Ring{endpoints: slices.Clip(eps)}
	r.build(r.nodeSeeds(&o))
	return r
}

// nodeSeeds returns the hash seed of every virtual node and fills nodeOwner
// when some weight is not 1. The first node of an endpoint has the
// endpoint's own seed, so weight 1 means exactly "no weight".
func (r *Ring) nodeSeeds(o *options) []uint64 {
	seeds := make([]uint64, 0, len(r.endpoints))
	weighted := false
	for _, e := range r.endpoints {
		seed := endpointSeed(e)
		seeds = append(seeds, seed)
		for i := 1; i < o.weightOf(e); i++ {
			seeds = append(seeds, nodeSeed(seed, i))
			weighted = true
		}
	}
	if weighted {
		r.nodeOwner = make([]uint32, 0, len(seeds))
		for i, e := range r.endpoints {
			for range o.weightOf(e) {
				r.nodeOwner = append(r.nodeOwner, uint32(i))
			}
		}
	}
	return seeds
}

// Len is the number of distinct endpoints.
func (r *Ring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.endpoints)
}

// Endpoints returns a sorted, de-duplicated copy of the endpoint set; the
// indices returned by Index and AppendChoices point into it.
func (r *Ring) Endpoints() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.endpoints)
}

// Endpoint returns the i-th endpoint of the sorted set, or "" when i is out
// of range.
func (r *Ring) Endpoint(i int) string {
	if i < 0 || i >= r.Len() {
		return ""
	}
	return r.endpoints[i]
}

// Get returns the endpoint that owns key. It returns "" only when the ring
// is empty, which callers must treat as "no destination", never as an
// endpoint name.
func (r *Ring) Get(key []byte) string {
	i := r.indexOfHash(xxhash.Sum64(key))
	if i < 0 {
		return ""
	}
	return r.endpoints[i]
}

// GetString is Get for a string key, without converting or allocating.
func (r *Ring) GetString(key string) string {
	i := r.indexOfHash(xxhash.Sum64String(key))
	if i < 0 {
		return ""
	}
	return r.endpoints[i]
}

// Index returns the index into Endpoints of the endpoint that owns key, or
// -1 when the ring is empty.
func (r *Ring) Index(key []byte) int { return r.indexOfHash(xxhash.Sum64(key)) }

// IndexString is Index for a string key, without allocating.
func (r *Ring) IndexString(key string) int { return r.indexOfHash(xxhash.Sum64String(key)) }

func (r *Ring) indexOfHash(h uint64) int {
	switch {
	case r == nil:
		return -1
	case r.owners16 != nil:
		return int(r.owners16[keySlot(h)])
	case r.owners32 != nil:
		return int(r.owners32[keySlot(h)])
	case len(r.endpoints) == 1:
		return 0
	default:
		return -1
	}
}

func xxhashString(s string) uint64 { return xxhash.Sum64String(s) }
