package resolver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func load(t *testing.T, key string) (Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(key)
	require.NoError(t, err)
	var cfg Config
	err = sub.Unmarshal(&cfg)
	return cfg, err
}

func TestConfmapLoad(t *testing.T) {
	cfg, err := load(t, "seed_dns")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, &DNSConfig{
		Hostname: "gateway-collector-headless.observability.svc.cluster.local",
		Port:     4317, Interval: 5 * time.Second, Timeout: time.Second,
	}, cfg.DNS)

	cfg, err = load(t, "upstream_dns_string_port")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, Port(4318), cfg.DNS.Port)

	cfg, err = load(t, "dns_defaults")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	d := cfg.DNS.WithDefaults()
	assert.Equal(t, DNSConfig{Hostname: "gateway.example", Port: 4317, Interval: 5 * time.Second, Timeout: time.Second, RecordType: "A"}, d)

	cfg, err = load(t, "dns_srv")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, "SRV", cfg.DNS.WithDefaults().RecordType)

	cfg, err = load(t, "static")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, []string{"[::1]:4317", "[::1]:4318", "gateway-1:4317", "gateway-2:4318"}, cfg.Static.Endpoints())

	cfg, err = load(t, "k8s")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, &K8sConfig{Service: "gateway.observability", Ports: []int32{4317, 4318}, Timeout: 30 * time.Second, ReturnHostnames: true}, cfg.K8s)

	_, err = load(t, "bad_port_string")
	require.ErrorContains(t, err, "port")
	_, err = load(t, "unknown_key")
	require.ErrorContains(t, err, "prot")
}

func TestPortRoundTrip(t *testing.T) {
	for _, in := range []any{4317, "4317", int64(4317)} {
		var cfg DNSConfig
		require.NoError(t, confmap.NewFromStringMap(map[string]any{"hostname": "gw", "port": in}).Unmarshal(&cfg), "%T", in)
		assert.Equal(t, Port(4317), cfg.Port)
	}
	out := confmap.New()
	require.NoError(t, out.Marshal(DNSConfig{Hostname: "gw", Port: 4317}))
	var back DNSConfig
	require.NoError(t, out.Unmarshal(&back))
	assert.Equal(t, Port(4317), back.Port)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // every substring must appear
	}{
		{"none", Config{}, []string{"exactly one of static, dns or k8s must be set, none is"}},
		{"two", Config{Static: &StaticConfig{Hostnames: []string{"a"}}, DNS: &DNSConfig{Hostname: "b"}}, []string{"several are"}},
		{"static empty", Config{Static: &StaticConfig{}}, []string{"static::hostnames: must list at least one endpoint"}},
		{"static bad entries", Config{Static: &StaticConfig{Hostnames: []string{"ok", "bad host", "x:0", ""}}},
			[]string{"static::hostnames::1:", "static::hostnames::2:", "static::hostnames::3: must not be empty"}},
		{"dns everything wrong", Config{DNS: &DNSConfig{Port: 70000, Interval: -1, Timeout: -1, Nameserver: "::1::", RecordType: "MX"}},
			[]string{"dns::hostname: must not be empty", "dns::port:", "dns::interval: must be positive", "dns::timeout: must be positive", "dns::nameserver:", "dns::record_type:"}},
		{"dns hostname with port", Config{DNS: &DNSConfig{Hostname: "gw:4317"}}, []string{"dns::hostname: \"gw:4317\" must not contain a port"}},
		{"dns negative port", Config{DNS: &DNSConfig{Hostname: "gw", Port: -1}}, []string{"dns::port:"}},
		{"dns srv with port", Config{DNS: &DNSConfig{Hostname: "_x._tcp.gw", RecordType: "SRV", Port: 4317}}, []string{"dns::port: must not be set with record_type SRV"}},
		{"k8s everything wrong", Config{K8s: &K8sConfig{Ports: []int32{4317, 0, 70000}, Timeout: -1}},
			[]string{"k8s::service: must not be empty", "k8s::ports::1:", "k8s::ports::2:", "k8s::timeout: must be positive"}},
		{"k8s malformed service", Config{K8s: &K8sConfig{Service: "gw.ns.svc.cluster.local"}}, []string{"k8s::service:"}},
		{"k8s upper case", Config{K8s: &K8sConfig{Service: "Gateway"}}, []string{"k8s::service:"}},
		{"from code with static", fromCode(func(c *Config) { c.Static = &StaticConfig{Hostnames: []string{"a"}} }),
			[]string{"static, dns and k8s must not be set: this component takes its endpoints from code"}},
		{"from code with dns", fromCode(func(c *Config) { c.DNS = &DNSConfig{Hostname: "gw"} }), []string{"must not be set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	for name, cfg := range map[string]Config{
		"static":    {Static: &StaticConfig{Hostnames: []string{"gw", "[::1]:4318", "10.0.0.1:1"}}},
		"dns":       {DNS: &DNSConfig{Hostname: "gw.example.", Port: 65535, Nameserver: "127.0.0.1:5353"}},
		"dns ip":    {DNS: &DNSConfig{Hostname: "::1"}},
		"srv":       {DNS: &DNSConfig{Hostname: "_otlp._tcp.gw", RecordType: "srv"}},
		"k8s":       {K8s: &K8sConfig{Service: "gateway-collector-headless"}},
		"from code": FromCode(),
	} {
		t.Run("valid "+name, func(t *testing.T) { require.NoError(t, cfg.Validate()) })
	}
}

func fromCode(set func(*Config)) Config {
	c := FromCode()
	set(&c)
	return c
}

// A FromCode block stays one through YAML decoding of an empty or absent
// block, which is how a factory's default configuration meets a file.
func TestFromCodeSurvivesUnmarshal(t *testing.T) {
	for name, raw := range map[string]map[string]any{
		"absent": {},
		"static": {"static": map[string]any{"hostnames": []any{"gw"}}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := FromCode()
			require.NoError(t, confmap.NewFromStringMap(raw).Unmarshal(&cfg))
			assert.True(t, cfg.IsFromCode())
			if len(raw) == 0 {
				require.NoError(t, cfg.Validate())
			} else {
				require.ErrorIs(t, cfg.Validate(), ErrInvalidConfig)
			}
		})
	}
	var plain Config
	assert.False(t, plain.IsFromCode())
}
