package k8s

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tailgate-otel/tailgate/resolver"
)

// bigService builds n ready endpoints spread over slices of 100 (the
// EndpointSlice controller's default), numbered from first.
func bigService(first, n int) []*ep {
	out := make([]*ep, 0, n)
	for i := first; i < first+n; i++ {
		out = append(out, &ep{addrs: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}, ready: yes()})
	}
	return out
}

func applyAll(t *testing.T, h *harness, eps []*ep) {
	t.Helper()
	for s := 0; s*100 < len(eps); s++ {
		var part []ep
		for _, e := range eps[s*100 : min((s+1)*100, len(eps))] {
			part = append(part, *e)
		}
		h.apply(t, slice(fmt.Sprintf("gateway-%04d", s), svc, part...))
	}
}

// EndpointSlices are untrusted input: thousands of endpoints are
// published, a set over resolver.MaxEndpoints is refused whole (the last
// good set stays), and addresses that are not addresses are dropped and
// counted.
func TestThousandsOfEndpointsAreBounded(t *testing.T) {
	h := start(t, cfg(), fake.NewClientset())
	applyAll(t, h, bigService(0, 3000))
	require.Eventually(t, func() bool { return len(h.r.Endpoints()) == 3000 }, wait, tick)

	// Slice by slice past the limit: the sets up to it are published, the
	// ones over it are refused whole.
	applyAll(t, h, bigService(0, resolver.MaxEndpoints+500))
	require.Eventually(t, func() bool { return h.reader.Refused(t, "k8s", "too_many") > 0 }, wait, tick)
	n := len(h.r.Endpoints())
	assert.True(t, n >= 3000 && n <= resolver.MaxEndpoints, "the last good set stays: %d endpoints", n)
	assert.Positive(t, h.reader.Resolutions(t, "k8s", false))

	for s := 0; s*100 < resolver.MaxEndpoints+500; s++ {
		h.remove(t, fmt.Sprintf("gateway-%04d", s))
	}
	h.apply(t, slice("odd", svc,
		ep{addrs: []string{"10.0.0.1"}, ready: yes()},
		ep{addrs: []string{"not an address", strings.Repeat("9", 1000)}, ready: yes()},
		ep{hostname: "ignored", addrs: []string{"10.0.0.2"}},
	))
	h.rec.WaitFor(t, []string{"10.0.0.1:4317", "10.0.0.2:4317"}, wait)
	invalid := h.reader.Refused(t, "k8s", "invalid")
	assert.True(t, invalid >= 2 && invalid%2 == 0, "the two invalid addresses, counted at each publication: %d", invalid)
}
