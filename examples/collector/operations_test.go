package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// loadAll resolves several --config URIs merged in order, as the binary
// does, with the distribution's factories, and validates the result.
func loadAll(t *testing.T, uris ...string) (*otelcol.Config, error) {
	t.Helper()
	cp, err := otelcol.NewConfigProvider(otelcol.ConfigProviderSettings{
		ResolverSettings: confmap.ResolverSettings{
			URIs: uris,
			ProviderFactories: []confmap.ProviderFactory{
				envprovider.NewFactory(), fileprovider.NewFactory(), yamlprovider.NewFactory(),
			},
		},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := cp.Get(context.Background(), factories(t))
	if err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

// TestKubernetesArguments loads each tier's configuration with the
// operations overlay exactly as the examples/k8s pods pass them (the k8s
// tests check the pods' arguments), and with the one extra argument that
// turns pprof on.
func TestKubernetesArguments(t *testing.T) {
	t.Setenv("POD_IP", "10.0.0.7")
	const ops = "file:../configs/overlays/k8s-operations.yaml"
	healthCheck, pprof := component.MustNewID("health_check"), component.MustNewID("pprof")
	for _, tier := range []string{"gateway-config-handoff.yaml", "gateway-config.yaml", "agent-config.yaml", "agent-config-k8s.yaml"} {
		t.Run(tier, func(t *testing.T) {
			base := "file:../configs/" + tier
			cfg, err := loadAll(t, base, ops)
			require.NoError(t, err)
			assert.Equal(t, []component.ID{healthCheck}, []component.ID(cfg.Service.Extensions), "health_check on, pprof off")
			assert.Contains(t, cfg.Extensions, pprof, "pprof is declared")
			seed, err := loadAll(t, base)
			require.NoError(t, err)
			assert.Equal(t, seed.Service.Pipelines, cfg.Service.Pipelines, "the overlay leaves the pipelines alone")

			cfg, err = loadAll(t, base, ops, "yaml:service::extensions: [health_check, pprof]")
			require.NoError(t, err)
			assert.Equal(t, []component.ID{healthCheck, pprof}, []component.ID(cfg.Service.Extensions), "the documented argument turns pprof on")
		})
	}
}

// TestKubernetesArgumentsPersistentAgent: the overlay's service::extensions
// replaces the persistent agent's (lists are not merged), so the DaemonSet's
// documented switch adds one argument that lists both.
func TestKubernetesArgumentsPersistentAgent(t *testing.T) {
	t.Setenv("POD_IP", "10.0.0.7")
	const (
		base = "file:../configs/agent-config-persistent.yaml"
		ops  = "file:../configs/overlays/k8s-operations.yaml"
	)
	healthCheck, storage := component.MustNewID("health_check"), component.MustNewIDWithName("file_storage", "lb")
	cfg, err := loadAll(t, base, ops)
	require.NoError(t, err)
	assert.NotContains(t, []component.ID(cfg.Service.Extensions), storage, "without the extra argument the overlay drops file_storage/lb")
	cfg, err = loadAll(t, base, ops, "yaml:service::extensions: [health_check, file_storage/lb]")
	require.NoError(t, err)
	assert.Equal(t, []component.ID{healthCheck, storage}, []component.ID(cfg.Service.Extensions))
}
