package gatestate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/featuregate"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEnabledIn(t *testing.T) {
	reg := featuregate.NewRegistry()
	reg.MustRegister("x.alpha", featuregate.StageAlpha)
	reg.MustRegister("x.beta", featuregate.StageBeta)
	tests := []struct {
		name string
		id   string
		def  bool
		set  *bool
		want bool
	}{
		{"absent: default true", "x.none", true, nil, true},
		{"absent: default false", "x.none", false, nil, false},
		{"alpha is off whatever the default", "x.alpha", true, nil, false},
		{"beta is on whatever the default", "x.beta", false, nil, true},
		{"switched off on the command line", "x.beta", true, ptr(false), false},
		{"switched on", "x.alpha", false, ptr(true), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.set != nil {
				require.NoError(t, reg.Set(tt.id, *tt.set))
				t.Cleanup(func() { _ = reg.Set(tt.id, !*tt.set) })
			}
			assert.Equal(t, tt.want, EnabledIn(reg, tt.id, tt.def))
		})
	}
	assert.True(t, Enabled("gatestate.test.unregistered", true))
}

func ptr(b bool) *bool { return &b }
