package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCommon(t *testing.T) {
	tests := []struct {
		name  string
		hosts []string
	}{
		{"one host", []string{"127.0.0.1"}},
		{"three hosts", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port, err := Common(tt.hosts...)
			require.NoError(t, err)
			assert.Positive(t, port)
			for _, h := range tt.hosts {
				l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
				require.NoError(t, err, "port %d is free on %s", port, h)
				require.NoError(t, l.Close())
			}
		})
	}
}

func TestCommonNeedsAHost(t *testing.T) {
	_, err := Common()
	assert.Error(t, err)
}

// TestCommonSkipsABusyPort: a port taken on a later host is never returned.
func TestCommonSkipsABusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	defer busy.Close()
	taken := busy.Addr().(*net.TCPAddr).Port
	for range 50 {
		port, err := Common("127.0.0.1", "127.0.0.2")
		require.NoError(t, err)
		assert.NotEqual(t, taken, port)
	}
}
