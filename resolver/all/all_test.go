package all

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/dns"
	"github.com/tailgate-otel/tailgate/resolver/k8s"
	"github.com/tailgate-otel/tailgate/resolver/static"
)

func TestDispatch(t *testing.T) {
	r, err := New(resolver.Config{Static: &resolver.StaticConfig{Hostnames: []string{"gw"}}}, resolver.Settings{}, nil)
	require.NoError(t, err)
	assert.IsType(t, &static.Resolver{}, r)

	r, err = New(resolver.Config{DNS: &resolver.DNSConfig{Hostname: "127.0.0.1"}}, resolver.Settings{}, nil)
	require.NoError(t, err)
	assert.IsType(t, &dns.Resolver{}, r)
	require.NoError(t, r.Start(context.Background()))
	assert.Equal(t, []string{"127.0.0.1:4317"}, r.Endpoints())
	require.NoError(t, r.Shutdown(context.Background()))

	r, err = New(resolver.Config{K8s: &resolver.K8sConfig{Service: "gw.ns", Timeout: time.Second}}, resolver.Settings{}, nil)
	require.NoError(t, err)
	assert.IsType(t, &k8s.Resolver{}, r)

	_, err = New(resolver.Config{}, resolver.Settings{}, nil)
	require.ErrorIs(t, err, resolver.ErrInvalidConfig)
	_, err = New(resolver.FromCode(), resolver.Settings{}, nil)
	require.ErrorIs(t, err, resolver.ErrInvalidConfig)
	require.ErrorContains(t, err, "come from code")
	_, err = New(resolver.Config{Static: &resolver.StaticConfig{Hostnames: []string{"a"}}, K8s: &resolver.K8sConfig{Service: "b"}}, resolver.Settings{}, nil)
	require.ErrorIs(t, err, resolver.ErrInvalidConfig)
}

// Outside a cluster the k8s resolver cannot build its client: Start must
// still succeed, and Shutdown must stop the retry goroutine.
func TestK8sOutsideClusterStarts(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	r, err := New(resolver.Config{K8s: &resolver.K8sConfig{Service: "gw.ns"}}, resolver.Settings{}, nil)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	assert.Empty(t, r.Endpoints())
	require.NoError(t, r.Shutdown(context.Background()))
}
