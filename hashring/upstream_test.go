package hashring

import (
	"hash/crc32"
	"slices"
	"strconv"
)

// upstreamRing is a reference implementation of the ring of contrib's
// load-balancing exporter, written from its description: every endpoint
// puts 200 points at crc32(endpoint‖i) mod 131,071, and a key goes to the
// first point at or after crc32(key) mod 131,071, wrapping around. It
// exists so that one benchmark run shows both rings side by side.
type upstreamRing struct {
	points []upstreamPoint
}

type upstreamPoint struct {
	pos      uint32
	endpoint string
}

const (
	upstreamPointsPerEndpoint = 200
	upstreamPositions         = 131071
)

func newUpstreamRing(endpoints []string) *upstreamRing {
	eps := slices.Clone(endpoints)
	slices.Sort(eps)
	eps = slices.Compact(eps)
	points := make([]upstreamPoint, 0, len(eps)*upstreamPointsPerEndpoint)
	for _, e := range eps {
		for i := range upstreamPointsPerEndpoint {
			pos := crc32.ChecksumIEEE([]byte(e+strconv.Itoa(i))) % upstreamPositions
			points = append(points, upstreamPoint{pos: pos, endpoint: e})
		}
	}
	slices.SortStableFunc(points, func(a, b upstreamPoint) int {
		return int(a.pos) - int(b.pos)
	})
	return &upstreamRing{points: points}
}

func (u *upstreamRing) Get(key []byte) string {
	if len(u.points) == 0 {
		return ""
	}
	pos := crc32.ChecksumIEEE(key) % upstreamPositions
	i, _ := slices.BinarySearchFunc(u.points, pos, func(p upstreamPoint, pos uint32) int {
		return int(p.pos) - int(pos)
	})
	if i == len(u.points) {
		i = 0
	}
	return u.points[i].endpoint
}
