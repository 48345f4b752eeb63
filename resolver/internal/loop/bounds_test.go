package loop

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/internal/metrictest"
)

func manyEndpoints(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.%d.%d.%d:4317", i>>16&255, i>>8&255, i&255)
	}
	return out
}

// A resolution is untrusted input: endpoints that are not a host:port are
// dropped and counted, and a set over resolver.MaxEndpoints is refused
// whole, keeping the last good set.
func TestPublisherBoundsWhatItPublishes(t *testing.T) {
	reader, set := metrictest.New(t)
	rec := metrictest.NewRecorder(t)
	p, err := NewPublisher("k8s", set, rec.Listen, time.Hour)
	require.NoError(t, err)
	ctx := context.Background()

	for _, tt := range []struct {
		name    string
		in      []string
		want    []string
		invalid int64
	}{
		{"valid as written", []string{"gw-1.gw.observability:4317", "[fd00::1]:4317", "10.0.0.1:4317"},
			[]string{"10.0.0.1:4317", "[fd00::1]:4317", "gw-1.gw.observability:4317"}, 0},
		{"invalid dropped", []string{
			"10.0.0.1:4317", "", "no-port", "10.0.0.2:0", "10.0.0.3:99999", "bad host!:4317",
			strings.Repeat("a", 300) + ":4317", "fe80::1%eth0:4317", "10.0.0.4:4317",
		}, []string{"10.0.0.1:4317", "10.0.0.4:4317"}, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := reader.Refused(t, "k8s", "invalid")
			p.Success(ctx, tt.in)
			assert.Equal(t, tt.want, p.Endpoints())
			assert.Equal(t, tt.invalid, reader.Refused(t, "k8s", "invalid")-before)
		})
	}

	good := p.Endpoints()
	fails := reader.Resolutions(t, "k8s", false)
	assert.False(t, p.Success(ctx, manyEndpoints(resolver.MaxEndpoints+1)))
	assert.Equal(t, good, p.Endpoints(), "the last good set stays")
	assert.Equal(t, fails+1, reader.Resolutions(t, "k8s", false), "counted as a failed resolution")
	assert.Equal(t, int64(resolver.MaxEndpoints+1), reader.Refused(t, "k8s", "too_many"))

	assert.True(t, p.Success(ctx, manyEndpoints(resolver.MaxEndpoints)), "exactly the limit is published")
	assert.Len(t, p.Endpoints(), resolver.MaxEndpoints)
}
