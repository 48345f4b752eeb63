package static

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/internal/metrictest"
)

func TestStaticPublishesOnce(t *testing.T) {
	reader, set := metrictest.New(t)
	rec := metrictest.NewRecorder(t)
	r, err := New(resolver.StaticConfig{Hostnames: []string{"gw-2", "::1", "[::1]:4318", "GW-1:4317", "gw-1"}}, set, rec.Listen)
	require.NoError(t, err)
	assert.Empty(t, r.Endpoints(), "nothing before Start")
	require.NoError(t, r.Start(context.Background()))
	want := []string{"[::1]:4317", "[::1]:4318", "gw-1:4317", "gw-2:4317"}
	assert.Equal(t, want, r.Endpoints())
	assert.Equal(t, want, rec.Last())
	assert.Equal(t, 1, rec.Calls())
	assert.Equal(t, int64(1), reader.Resolutions(t, "static", true))
	assert.Equal(t, int64(4), reader.Backends(t, "static"))
	assert.Equal(t, int64(1), reader.Updates(t, "static"))

	require.ErrorIs(t, r.Start(context.Background()), resolver.ErrAlreadyStarted)
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Equal(t, want, r.Endpoints(), "the last set outlives Shutdown")
}

func TestStaticShutdownBeforeStart(t *testing.T) {
	r, err := New(resolver.StaticConfig{Hostnames: []string{"gw"}}, resolver.Settings{}, nil)
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()))
	require.ErrorIs(t, r.Start(context.Background()), resolver.ErrShutdown)
}

func TestStaticRejectsBadConfig(t *testing.T) {
	for name, hosts := range map[string][]string{
		"empty":    nil,
		"bad port": {"gw:99999"},
		"blank":    {"gw", ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(resolver.StaticConfig{Hostnames: hosts}, resolver.Settings{}, nil)
			require.ErrorIs(t, err, resolver.ErrInvalidConfig)
		})
	}
}
