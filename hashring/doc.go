// Package hashring routes keys (trace IDs, service names, stream IDs) to
// one of a set of endpoints by consistent hashing. It decides which gateway
// receives every span of a trace, so trace completeness rests on it.
//
// # Algorithm
//
// A key's 64-bit xxhash selects one of 2^18 slots; a table built by New
// holds each slot's owner, so a lookup is one hash and one table read, at
// any ring size. A slot's owner is chosen by rendezvous hashing: every
// endpoint ranks every slot with a pseudo-random permutation derived from
// the endpoint's own name, and the endpoint that ranks the slot lowest owns
// it. New computes the table with an exponential race (each endpoint offers
// only its best-ranked slots and the rare slot nobody reached is settled by
// asking every endpoint), in about slots·(ln n + 1.2) steps rather than
// slots·n: 1.4 ms of CPU at n=100 and 2.2 ms at n=1000 (2.3 and 3.2 ms
// before the race was tightened), spread over up to min(GOMAXPROCS, 4)
// goroutines, which halves the wall time when a second core is free.
//
// # Guarantees
//
//   - Pure function of the set: New ignores the order of its input,
//     duplicates and empty strings. Two rings built from the same set map
//     every key identically in every process, on every platform and in
//     every release: the hash and the layout are a wire contract between
//     agents, pinned by known-answer tests.
//   - Minimal movement: adding an endpoint moves only the keys it takes
//     over; removing one moves only the keys it owned.
//   - Failover agrees with removal: AppendChoices lists a key's endpoints
//     in preference order, and choice i+1 is the key's owner in the ring
//     built without choices 0..i.
//   - Balance: each endpoint owns about 1/n of the slots, within a relative
//     deviation of about sqrt(n/2^18) (0.6% at n=10, 2% at n=100).
//     WithWeights makes shares proportional to weights at no lookup cost.
//
// # Concurrency and failure behaviour
//
// New may run part of its work on helper goroutines; they have all ended
// when it returns, and the table does not depend on how the work was split.
// A Ring is immutable: all its methods are safe for concurrent use, and a
// changed endpoint set means building a new Ring and swapping the pointer
// (for instance with atomic.Pointer). Lookups never allocate, never fail
// and never panic; the empty ring answers "" from Get and -1 from Index,
// which callers must treat as "no destination". AppendChoices and
// IndexWhere cost one table read for the first choice and O(n) for each
// further one: use Index or Get on the hot path and IndexWhere to fail
// over.
package hashring
