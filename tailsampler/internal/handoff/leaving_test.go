package handoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A member removed from the set (a terminating pod leaves the endpoints
// before its preStop sleep ends) hands everything off at once, while one
// that was never a member (startup DNS lag) keeps everything.
func TestRemovedMemberHandsEverythingOff(t *testing.T) {
	c := newCluster(t)
	view := []string{epA, epB, epC}
	rest := []string{epB, epC}
	a := c.add(epA, view, nodeOpt{})
	b := c.add(epB, view, nodeOpt{})
	cc := c.add(epC, view, nodeOpt{})
	all := fill(workload(21, 200, 2), view, map[string]*node{epA: a, epB: b, epC: cc})
	fromA := expect(all, view, epA)
	require.NotEmpty(t, fromA)

	a.res.Set(rest...)
	b.res.Set(rest...)
	cc.res.Set(rest...)

	for _, n := range []*node{b, cc} {
		want := expect(all, view, n.ep)
		for id, ti := range expect(fromA, rest, n.ep) {
			want[id] = ti
		}
		require.Eventually(t, func() bool { return len(n.buf.snapshot()) == len(want) }, 10*time.Second, 10*time.Millisecond, n.ep)
		assert.Equal(t, want, n.buf.snapshot(), n.ep)
	}
	assert.Empty(t, a.buf.snapshot())
	for id := range all {
		assert.False(t, a.e.Owns(id), "a gateway that left owns nothing while others exist")
	}
	// Back in the set: it owns its share again.
	a.res.Set(view...)
	owned := 0
	for id := range all {
		if a.e.Owns(id) {
			owned++
		}
	}
	assert.Equal(t, len(fromA), owned)
}
