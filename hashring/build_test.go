package hashring

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBuildIsTheDefinitionEverywhere checks every slot of the table, not a
// sample: the owner is the endpoint of least preference over all virtual
// nodes (the definition the race, its fallback and the block scheduling
// shortcut), whatever the number of goroutines that built it.
func TestBuildIsTheDefinitionEverywhere(t *testing.T) {
	tests := []struct {
		name    string
		eps     []string
		weights map[string]int
	}{
		{name: "two", eps: podIPs(21, 2)},
		{name: "three", eps: podIPs(22, 3)},
		{name: "five", eps: podIPs(23, 5)},
		{name: "ten gateways", eps: gatewayNames(10)},
		{name: "sixty-four", eps: podIPs(24, 64)},
		{name: "hundred", eps: podIPs(25, 100)},
		{name: "weighted", eps: gatewayNames(4), weights: map[string]int{"gateway-0.svc:4317": 3, "gateway-2.svc:4317": 17}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := New(tt.eps, WithWeights(tt.weights))
			nodes := len(ref.blockKeys) / numBlocks
			for slot := range uint32(numSlots) {
				b := int(slot >> blockBits)
				want := int(uint32(ref.slowPreference(ref.blockKeys[b*nodes:(b+1)*nodes], slot&blockMask)))
				if got := int(ref.owners16[slot]); got != want {
					require.Failf(t, "owner differs from the definition", "slot %d: %d, want %d", slot, got, want)
				}
			}
			for _, workers := range []int{1, 2, 3, maxBuildWorkers, 64} {
				var o options
				WithWeights(tt.weights).apply(&o)
				r := &Ring{endpoints: ref.endpoints}
				r.buildWith(r.nodeSeeds(&o), workers)
				require.Equal(t, ref.owners16, r.owners16, "workers=%d", workers)
				require.Equal(t, ref.blockKeys, r.blockKeys, "workers=%d", workers)
			}
		})
	}
}

// TestEnumGroupsIsInRange checks the race's size for every ring size the
// build can meet, including the virtual nodes of weighted rings.
func TestEnumGroupsIsInRange(t *testing.T) {
	for _, n := range []int{2, 3, 10, 100, 1000, 1 << 16, 1<<16 + 3, 1 << 24} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := enumGroups(n)
			require.GreaterOrEqual(t, g, uint32(1))
			require.LessOrEqual(t, g, uint32(blockSize/4))
		})
	}
}

// TestRaceOffersTheDefinedRanks checks the race's four-lane enumeration
// against layout.go's definition of an endpoint's permutation: offering
// every rank must give each slot exactly the preference of its rank.
func TestRaceOffersTheDefinedRanks(t *testing.T) {
	for _, key := range []uint64{0, 1, 3, 0xfff, 0x1000, 0xdead_beef_cafe_f00d, ^uint64(0), blockKey(endpointSeed("gateway-1.svc:4317"), 7)} {
		t.Run(fmt.Sprintf("%x", key), func(t *testing.T) {
			var best [blockSize]uint64
			raceEndpoint(&best, key, 5, blockSize/4)
			for rank := range uint32(blockSize) {
				slot := slotOfRank(key, rank)
				require.Equal(t, rank, rankOfSlot(key, slot))
				require.Equal(t, preference(rank, key, 5), ^best[slot], "rank %d", rank)
			}
		})
	}
}
