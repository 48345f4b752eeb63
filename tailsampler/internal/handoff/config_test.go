package handoff

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"

	"github.com/tailgate-otel/tailgate/resolver"
)

func validConfig() Config {
	c := NewDefaultConfig()
	c.Endpoint = "10.0.0.5:4317"
	c.Resolver = resolver.Config{DNS: &resolver.DNSConfig{Hostname: "gateway-headless.observability.svc.cluster.local"}}
	return c
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		modify func(*Config)
		errs   []string
	}{
		{"valid", func(*Config) {}, nil},
		{"zero values mean defaults", func(c *Config) {
			c.PeerPort, c.Window, c.HopLimit, c.Client.Timeout = 0, 0, 0, 0
			c.Listen.NetAddr.Endpoint = ""
		}, nil},
		{"missing endpoint and resolver", func(c *Config) { c.Endpoint = ""; c.Resolver = resolver.Config{} }, []string{
			"handoff::endpoint: must not be empty",
			"handoff::resolver: invalid resolver config: exactly one of static, dns or k8s must be set, none is",
		}},
		{"bad endpoint", func(c *Config) { c.Endpoint = "http://x:4317" }, []string{"handoff::endpoint: "}},
		{"everything wrong", func(c *Config) {
			c.PeerPort = 70000
			c.Window = -time.Second
			c.HopLimit = 9
			c.Client.Timeout = -1
			c.Client.Endpoint = "peer:4319"
			c.Listen.NetAddr.Endpoint = "nohostport"
		}, []string{
			"handoff::peer_port: 70000: port must be a number between 1 and 65535",
			"handoff::window: must be positive, got -1s",
			"handoff::hop_limit: 9: must be between 1 and 8",
			"handoff::client::timeout: must be positive",
			"handoff::client::endpoint: must not be set",
			`handoff::listen::endpoint: "nohostport"`,
		}},
		{"negative hop limit", func(c *Config) { c.HopLimit = -1 }, []string{"handoff::hop_limit: -1"}},
		{"unknown accept_from", func(c *Config) { c.AcceptFrom = "friends" }, []string{
			`handoff::accept_from: "friends": must be one of ring, authenticated, any`,
		}},
		{"accept_from authenticated without authentication", func(c *Config) { c.AcceptFrom = AcceptAuthenticated }, []string{
			"handoff::accept_from: authenticated needs a listener that authenticates its clients",
		}},
		{"negative request limits", func(c *Config) { c.MaxSpansPerRequest, c.MaxTracesPerRequest = -1, -2 }, []string{
			"handoff::max_spans_per_request: must be positive, got -1",
			"handoff::max_traces_per_request: must be positive, got -2",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if len(tt.errs) == 0 {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			for _, want := range tt.errs {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestConfigResolve(t *testing.T) {
	for _, tt := range []struct {
		name         string
		modify       func(*Config)
		decisionWait time.Duration
		want         func(*testing.T, resolved)
	}{
		{"defaults", func(c *Config) {}, 0, func(t *testing.T, r resolved) {
			assert.Equal(t, "10.0.0.5:4317", r.self)
			assert.Equal(t, 4319, r.PeerPort)
			assert.Equal(t, "0.0.0.0:4319", r.Listen.NetAddr.Endpoint)
			assert.Equal(t, DefaultWindow, r.Window)
			assert.Equal(t, 1, r.HopLimit)
			assert.Equal(t, DefaultTimeout, r.Client.Timeout)
			assert.True(t, r.Client.TLS.Insecure)
			assert.Equal(t, requestLimits{spans: DefaultMaxSpansPerRequest, traces: DefaultMaxTracesPerRequest}, r.limits())
			assert.Equal(t, 4<<20, r.maxRecvBytes())
			assert.Equal(t, AcceptRing, r.acceptFrom)
		}},
		{"an authenticating listener accepts authenticated senders", func(c *Config) {
			c.Listen.TLS = configoptional.Some(configtls.ServerConfig{ClientCAFile: "ca.crt"})
		}, 0, func(t *testing.T, r resolved) {
			assert.Equal(t, AcceptAuthenticated, r.acceptFrom)
		}},
		{"explicit accept_from wins", func(c *Config) {
			c.Listen.TLS = configoptional.Some(configtls.ServerConfig{ClientCAFile: "ca.crt"})
			c.AcceptFrom = AcceptRing
		}, 0, func(t *testing.T, r resolved) {
			assert.Equal(t, AcceptRing, r.acceptFrom)
		}},
		{"request limits", func(c *Config) {
			c.MaxSpansPerRequest, c.MaxTracesPerRequest = 10, 5
			c.Listen.MaxRecvMsgSizeMiB = 16
		}, 0, func(t *testing.T, r resolved) {
			assert.Equal(t, requestLimits{spans: 10, traces: 5}, r.limits())
			assert.Equal(t, 16<<20, r.maxRecvBytes())
		}},
		{"window from decision_wait", func(c *Config) {}, 10 * time.Second, func(t *testing.T, r resolved) {
			assert.Equal(t, 10*time.Second, r.Window)
		}},
		{"explicit window wins", func(c *Config) { c.Window = time.Minute }, 10 * time.Second, func(t *testing.T, r resolved) {
			assert.Equal(t, time.Minute, r.Window)
		}},
		{"peer port follows listen", func(c *Config) { c.PeerPort = 0; c.Listen.NetAddr.Endpoint = "0.0.0.0:5000" }, 0, func(t *testing.T, r resolved) {
			assert.Equal(t, 5000, r.PeerPort)
		}},
		{"listen follows peer port", func(c *Config) { c.PeerPort = 6000; c.Listen.NetAddr.Endpoint = "" }, 0, func(t *testing.T, r resolved) {
			assert.Equal(t, "0.0.0.0:6000", r.Listen.NetAddr.Endpoint)
		}},
		{"endpoint normalised like the resolver's", func(c *Config) { c.Endpoint = "Gateway-0.GW.observability" }, 0, func(t *testing.T, r resolved) {
			assert.Equal(t, "gateway-0.gw.observability:4317", r.self)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			r, err := c.resolve(tt.decisionWait)
			require.NoError(t, err)
			tt.want(t, r)
		})
	}
}

// The derived defaults of peer_port and listen::endpoint must survive the
// collector's path: YAML unmarshalled over NewDefaultConfig. A default
// filled into either one kept the other from following it, and gateways
// listening on a non-default port dialled each other on 4319.
func TestConfigUnmarshalDerivesPorts(t *testing.T) {
	for _, tt := range []struct {
		name       string
		yaml       map[string]any
		peerPort   int
		listenAddr string
	}{
		{"nothing set", nil, DefaultPeerPort, "0.0.0.0:4319"},
		{"listen sets the peer port", map[string]any{"listen": map[string]any{"endpoint": "127.0.0.11:40123"}}, 40123, "127.0.0.11:40123"},
		{"peer_port sets listen", map[string]any{"peer_port": 6000}, 6000, "0.0.0.0:6000"},
		{"both set", map[string]any{"peer_port": 6000, "listen": map[string]any{"endpoint": "0.0.0.0:7000"}}, 6000, "0.0.0.0:7000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDefaultConfig()
			require.NoError(t, confmap.NewFromStringMap(tt.yaml).Unmarshal(&c))
			c.Endpoint = "10.0.0.5:4317"
			c.Resolver = resolver.Config{DNS: &resolver.DNSConfig{Hostname: "gateway-headless"}}
			r, err := c.resolve(0)
			require.NoError(t, err)
			assert.Equal(t, tt.peerPort, r.PeerPort)
			assert.Equal(t, tt.listenAddr, r.Listen.NetAddr.Endpoint)
			assert.Equal(t, "10.0.0.12:"+strconv.Itoa(tt.peerPort), PeerAddress("10.0.0.12:4317", r.PeerPort))
		})
	}
}

func TestPeerAddress(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.5:4317":             "10.0.0.5:4319",
		"[fd00::5]:4317":            "[fd00::5]:4319",
		"gateway-0.gw.obs.svc:4317": "gateway-0.gw.obs.svc:4319",
		"no-port":                   "no-port:4319",
	} {
		assert.Equal(t, want, PeerAddress(in, 4319), in)
	}
}
