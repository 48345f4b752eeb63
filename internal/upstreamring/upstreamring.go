package upstreamring

import (
	"cmp"
	"encoding/binary"
	"hash/crc32"
	"slices"
)

const (
	pointsPerEndpoint = 200
	positions         = 131071
	probeLimit        = 10
)

// Ring maps keys to endpoints as the contrib load-balancing exporter does.
// It is immutable and safe for concurrent use.
type Ring struct {
	points []point
}

type point struct {
	pos      uint32
	endpoint string
}

// New builds the ring of the given endpoints. Duplicates count once; the
// order does not matter.
func New(endpoints []string) *Ring {
	eps := slices.Clone(endpoints)
	slices.Sort(eps)
	eps = slices.Compact(eps)

	type candidate struct {
		pos, hash uint32
		endpoint  string
	}
	cands := make([]candidate, 0, len(eps)*pointsPerEndpoint)
	var buf []byte
	for _, e := range eps {
		for i := range pointsPerEndpoint {
			buf = binary.LittleEndian.AppendUint32(append(buf[:0], e...), uint32(i))
			h := crc32.ChecksumIEEE(buf)
			cands = append(cands, candidate{pos: h % positions, hash: h, endpoint: e})
		}
	}
	// Collisions are settled in this order, so the ring does not depend on
	// the order the resolver listed the endpoints in.
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.pos, b.pos), cmp.Compare(a.hash, b.hash), cmp.Compare(a.endpoint, b.endpoint))
	})
	taken := make(map[uint32]bool, len(cands))
	points := make([]point, 0, len(cands))
	for _, c := range cands {
		pos, steps := c.pos, 0
		for taken[pos] && steps < probeLimit {
			pos = (pos + 1) % positions
			steps++
		}
		if steps >= probeLimit {
			continue // upstream gives up after probeLimit steps, even when the last was free
		}
		taken[pos] = true
		points = append(points, point{pos: pos, endpoint: c.endpoint})
	}
	slices.SortFunc(points, func(a, b point) int { return cmp.Compare(a.pos, b.pos) })
	return &Ring{points: points}
}

// Get returns the endpoint that owns key, or "" for an empty ring.
func (r *Ring) Get(key []byte) string {
	if len(r.points) == 0 {
		return ""
	}
	pos := crc32.ChecksumIEEE(key) % positions
	i, _ := slices.BinarySearchFunc(r.points, pos, func(p point, pos uint32) int { return cmp.Compare(p.pos, pos) })
	if i == len(r.points) {
		i = 0
	}
	return r.points[i].endpoint
}

// Points is the number of points on the ring (200 per endpoint, fewer when
// collisions could not be settled).
func (r *Ring) Points() int { return len(r.points) }
