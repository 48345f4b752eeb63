package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadGateways(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
		wantErr string
	}{
		{"one per line", "10.0.0.1:4317\n10.0.0.2:4317\n", []string{"10.0.0.1:4317", "10.0.0.2:4317"}, ""},
		{"spaces and blank lines", "  a:1 b:2\n\n\tc:3 ", []string{"a:1", "b:2", "c:3"}, ""},
		{"empty", "\n \n", nil, "lists no endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gateways")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			got, err := readGateways(path)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := readGateways(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
