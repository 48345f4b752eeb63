package tailsampler

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/tailsampler/internal/handoff"
)

func loadHandoffConfig(t *testing.T, key string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "handoff.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(key)
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestHandoffConfig(t *testing.T) {
	cfg := loadHandoffConfig(t, "tail_sampling")
	require.NoError(t, cfg.Validate())
	require.True(t, cfg.Handoff.HasValue())
	hc := cfg.Handoff.Get()
	assert.Equal(t, "10.0.0.5:4317", hc.Endpoint)
	require.NotNil(t, hc.Resolver.DNS)
	// Keys not given keep the engine's defaults.
	def := handoff.NewDefaultConfig()
	assert.Equal(t, def.Listen.NetAddr.Endpoint, hc.Listen.NetAddr.Endpoint)
	assert.True(t, hc.Client.TLS.Insecure, "plaintext to peers, as the listener serves by default")
	assert.Equal(t, def.HopLimit, hc.HopLimit)
	assert.Zero(t, hc.Window, "window defaults to decision_wait in the engine")

	err := loadHandoffConfig(t, "tail_sampling/bad").Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	for _, want := range []string{"handoff::endpoint: must not be empty", "handoff::resolver", "handoff::hop_limit: 9", "handoff::window: must be positive"} {
		assert.ErrorContains(t, err, want)
	}
}

func TestHandoffBlockAbsentIsOff(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "seed_gateway.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("tail_sampling")
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	assert.False(t, cfg.Handoff.HasValue())
	assert.Nil(t, cfg.Handoff.Get())
}

// A handoff processor's lifecycle: Shutdown before Start, twice, and a
// listener that cannot be opened fails Start.
func TestHandoffLifecycle(t *testing.T) {
	f := newFleet(t)
	g := f.start(gwA, []string{gwA})
	mk := func(listen string) *handoffSampler {
		fac := NewFactory()
		cfg := fac.CreateDefaultConfig().(*Config)
		cfg.DecisionWait = time.Second
		cfg.Policies = []PolicyCfg{{Name: "all", Type: "always_sample"}}
		hc := cfg.Handoff.GetOrInsertDefault()
		hc.Endpoint = gwB
		hc.Resolver.Static = &handoffStatic
		hc.Listen.NetAddr.Endpoint = listen
		p, err := fac.CreateTraces(context.Background(), newNopSettings(), cfg, nopSink())
		require.NoError(t, err)
		return p.(*handoffSampler)
	}
	p := mk("127.0.0.1:0")
	require.NoError(t, p.Shutdown(context.Background()))
	require.NoError(t, p.Shutdown(context.Background()))

	busy := mk(g.p.eng.Addr().String())
	require.Error(t, busy.Start(context.Background(), nil))
	require.NoError(t, busy.Shutdown(context.Background()))
}

var handoffStatic = resolver.StaticConfig{Hostnames: []string{gwB}}
