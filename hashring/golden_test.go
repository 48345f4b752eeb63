package hashring

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ring's layout is a wire contract between agents that may run
// different releases: if any of these known answers changes, a mixed fleet
// would split traces. Never update them to make a change pass; a change of
// layout needs a new, opt-in layout version instead.

func goldenSets() map[string][]string {
	hundred := make([]string, 100)
	for i := range hundred {
		hundred[i] = fmt.Sprintf("10.%d.%d.%d:4317", 40+i%3, i*7%256, 1+i*13%254)
	}
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = fmt.Sprintf("gateway-%d.svc:4317", i)
	}
	return map[string][]string{
		"three pods":   {"10.0.0.3:4317", "10.0.0.1:4317", "10.0.0.2:4317"},
		"ten gateways": ten,
		"hundred pods": hundred,
	}
}

func goldenKeys(t *testing.T) [][]byte {
	keys := [][]byte{nil, []byte("checkout"), []byte("frontend")}
	for _, h := range []string{
		"7fd399b466e797fc954c7cfa09be27e4",
		"9c3e56cf31c8febd5a1e93b4940f3ea6",
		"cd41bb110cce76d7be6efc9eb95665c7",
		"c4fa5de0548d833d350d7f796c3efb05",
		"7efd00f8fb73964ce0d88fa5be132fbf",
		"1f053ca24d7bee5b1818ca8d687aa3e4",
	} {
		k, err := hex.DecodeString(h)
		require.NoError(t, err)
		keys = append(keys, k)
	}
	return keys
}

// layoutDigest folds the owner of 65,536 keys (i as 8 little-endian bytes)
// into one number, so that a change anywhere in the table is caught.
func layoutDigest(r *Ring) uint64 {
	d := xxhash.New()
	var k [8]byte
	for i := range uint64(1 << 16) {
		binary.LittleEndian.PutUint64(k[:], i)
		_, _ = d.WriteString(r.Get(k[:]))
		_, _ = d.WriteString("\n")
	}
	return d.Sum64()
}

var goldenOwners = map[string][]string{
	"three pods":   {"10.0.0.3:4317", "10.0.0.2:4317", "10.0.0.2:4317", "10.0.0.3:4317", "10.0.0.3:4317", "10.0.0.3:4317", "10.0.0.2:4317", "10.0.0.2:4317", "10.0.0.2:4317"},
	"ten gateways": {"gateway-2.svc:4317", "gateway-6.svc:4317", "gateway-8.svc:4317", "gateway-0.svc:4317", "gateway-3.svc:4317", "gateway-1.svc:4317", "gateway-8.svc:4317", "gateway-5.svc:4317", "gateway-1.svc:4317"},
	"hundred pods": {"10.41.196.111:4317", "10.41.217.150:4317", "10.42.241.162:4317", "10.40.139.194:4317", "10.40.0.1:4317", "10.41.125.168:4317", "10.42.157.6:4317", "10.41.192.71:4317", "10.42.69.64:4317"},
}

var goldenChoices = map[string][][]int{
	"ten gateways": {{2, 4, 6, 5}, {6, 0, 5, 8}, {8, 7, 4, 5}, {0, 3, 8, 4}, {3, 2, 7, 1}, {1, 4, 6, 5}, {8, 1, 9, 6}, {5, 9, 8, 0}, {1, 9, 3, 6}},
}

var goldenDigests = map[string]uint64{
	"three pods":   0x61720b25f6dd9f41,
	"ten gateways": 0x150f31a8f8b62929,
	"hundred pods": 0x5d3d0b71d78278ac,
}

func TestGoldenLayout(t *testing.T) {
	keys := goldenKeys(t)
	for name, eps := range goldenSets() {
		t.Run(name, func(t *testing.T) {
			r := New(eps)
			got := make([]string, len(keys))
			for i, k := range keys {
				got[i] = r.Get(k)
			}
			assert.Equal(t, goldenOwners[name], got, "owners")
			assert.Equal(t, goldenDigests[name], layoutDigest(r), "digest")
			if want, ok := goldenChoices[name]; ok {
				gotChoices := make([][]int, len(keys))
				for i, k := range keys {
					gotChoices[i] = r.AppendChoices(nil, k, 4)
				}
				assert.Equal(t, want, gotChoices, "choices")
			}
		})
	}
}
