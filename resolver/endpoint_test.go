package resolver

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"gw":                  "gw:4317",
		"GW.Example.":         "gw.example.:4317",
		"gw:4318":             "gw:4318",
		"gw:04318":            "gw:4318",
		"10.0.0.1":            "10.0.0.1:4317",
		"10.0.0.1:1":          "10.0.0.1:1",
		"::1":                 "[::1]:4317",
		"[::1]":               "[::1]:4317",
		"[::1]:4318":          "[::1]:4318",
		"FD00:0::1":           "[fd00::1]:4317",
		"[fd00:0:0:0::1]:443": "[fd00::1]:443",
		"_otlp._tcp.gw":       "_otlp._tcp.gw:4317",
	} {
		got, err := NormalizeEndpoint(in, DefaultPort)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "gw:", "gw:0", "gw:65536", "gw:-1", "gw:+1", "gw:http", "[::1", "[::1]x", "[::1]:",
		"[10.0.0.1]:1", "a:b:c", "bad host", "http://gw", "gw/x", "-gw", "gw..x", "fe80::1%eth0", "[fe80::1%eth0]:1",
		"a.b:1:2", string(make([]byte, 300))} {
		_, err := NormalizeEndpoint(in, DefaultPort)
		assert.Error(t, err, "%q", in)
	}
}

func TestParseService(t *testing.T) {
	for in, want := range map[string][2]string{
		"gateway":                    {"gateway", ""},
		"gateway.observability":      {"gateway", "observability"},
		"gw-1.0ns":                   {"gw-1", "0ns"},
		"gateway-collector-headless": {"gateway-collector-headless", ""},
	} {
		name, ns, err := ParseService(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, [2]string{name, ns}, in)
	}
	for _, in := range []string{"", ".", "gw.", ".ns", "1gw", "Gw", "gw.NS", "gw.ns.svc", "gw_x", "-gw", "gw-", "gw.ns-"} {
		_, _, err := ParseService(in)
		assert.ErrorIs(t, err, ErrBadService, "%q", in)
	}
}

func TestParsePort(t *testing.T) {
	for _, ok := range []int{1, 80, 4317, 65535} {
		p, err := ParsePort(strconv.Itoa(ok))
		require.NoError(t, err)
		assert.Equal(t, ok, p)
	}
	for _, bad := range []string{"", "0", "65536", "99999", "123456", "-1", "+1", " 1", "1e3", "0x10"} {
		_, err := ParsePort(bad)
		assert.ErrorIs(t, err, ErrBadPort, "%q", bad)
	}
}

func TestSortDedupe(t *testing.T) {
	assert.Equal(t, []string{"a:1", "b:1"}, SortDedupe([]string{"b:1", "a:1", "b:1"}))
	assert.Empty(t, SortDedupe(nil))
}

// The output of NormalizeEndpoint must be dialable as is.
func TestNormalizedSplits(t *testing.T) {
	for _, in := range []string{"gw", "::1", "[::1]:4318", "10.0.0.1:80"} {
		ep, err := NormalizeEndpoint(in, DefaultPort)
		require.NoError(t, err)
		_, _, err = net.SplitHostPort(ep)
		require.NoError(t, err)
	}
}
