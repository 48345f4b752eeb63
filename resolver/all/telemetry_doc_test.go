package all

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tailgate-otel/tailgate/internal/telemetrytest"
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/dns"
	"github.com/tailgate-otel/tailgate/resolver/k8s"
	"github.com/tailgate-otel/tailgate/resolver/manual"
	"github.com/tailgate-otel/tailgate/resolver/static"
)

// TestTelemetryDocumented starts every mechanism (k8s once with a fake
// clientset and once with a client that cannot be built) with a recording
// MeterProvider and checks the instruments they created and the
// attributes they recorded against resolver/metadata.yaml.
func TestTelemetryDocumented(t *testing.T) {
	ctx := context.Background()
	rec := telemetrytest.NewForTest(t)
	set := resolver.Settings{MeterProvider: rec}
	k8sCfg := resolver.K8sConfig{Service: "gateways.ns", Timeout: time.Second}

	st, err := static.New(resolver.StaticConfig{Hostnames: []string{"gw-1", "gw-2"}}, set, nil)
	require.NoError(t, err)
	dn, err := dns.New(resolver.DNSConfig{Hostname: "127.0.0.1"}, set, nil)
	require.NoError(t, err)
	ks, err := k8s.New(k8sCfg, set, nil, k8s.WithClientset(fake.NewClientset()))
	require.NoError(t, err)
	broken, err := k8s.New(k8sCfg, set, nil, k8s.WithClientFactory(func() (kubernetes.Interface, error) {
		return nil, errors.New("not in a cluster")
	}))
	require.NoError(t, err)
	mn, err := manual.New(set, nil, "gw-1")
	require.NoError(t, err)

	all := []resolver.Resolver{st, dn, ks, broken, mn}
	for _, r := range all {
		require.NoError(t, r.Start(ctx))
	}
	mn.Set("gw-1", "gw-2")
	for _, r := range all {
		require.NoError(t, r.Shutdown(ctx))
	}
	telemetrytest.Check(t, rec, "../metadata.yaml")
}
