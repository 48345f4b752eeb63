package dns

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/internal/metrictest"
)

const (
	gw   = "gw.test.local"
	wait = 5 * time.Second
	tick = 5 * time.Millisecond
)

// fastCfg polls every 20ms with a 200ms timeout against srv.
func fastCfg(srv *testServer) resolver.DNSConfig {
	return resolver.DNSConfig{Hostname: gw, Nameserver: srv.addr, Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond}
}

func startResolver(t *testing.T, cfg resolver.DNSConfig, opts ...Option) (*Resolver, *metrictest.Recorder, *metrictest.Reader) {
	t.Helper()
	reader, set := metrictest.New(t)
	rec := metrictest.NewRecorder(t)
	opts = append([]Option{WithInitialBackoff(10 * time.Millisecond)}, opts...)
	r, err := New(cfg, set, rec.Listen, opts...)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return r, rec, reader
}

func TestStartResolvesSynchronously(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "10.0.0.2", "10.0.0.1", "10.0.0.1")
	cfg := fastCfg(srv)
	cfg.Interval = time.Hour // only Start's attempt can have produced the set
	r, rec, reader := startResolver(t, cfg)
	assert.Equal(t, []string{"10.0.0.1:4317", "10.0.0.2:4317"}, r.Endpoints())
	assert.Equal(t, 1, rec.Calls())
	assert.Equal(t, int64(1), reader.Resolutions(t, "dns", true))
	assert.Equal(t, int64(2), reader.Backends(t, "dns"))
	assert.Equal(t, int64(1), reader.Updates(t, "dns"))
}

func TestAddRemoveReorder(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "10.0.0.1", "10.0.0.2")
	cfg := fastCfg(srv)
	cfg.Port = 4318
	r, rec, reader := startResolver(t, cfg)
	require.Equal(t, []string{"10.0.0.1:4318", "10.0.0.2:4318"}, r.Endpoints())

	srv.setA(gw, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	rec.WaitFor(t, []string{"10.0.0.1:4318", "10.0.0.2:4318", "10.0.0.3:4318"}, wait)

	srv.setA(gw, "10.0.0.3", "10.0.0.1")
	rec.WaitFor(t, []string{"10.0.0.1:4318", "10.0.0.3:4318"}, wait)

	// Reordering the answer is not a change: several resolutions later,
	// no listener call and no backend update.
	calls, updates := rec.Calls(), reader.Updates(t, "dns")
	srv.setA(gw, "10.0.0.1", "10.0.0.3")
	before := reader.Resolutions(t, "dns", true)
	require.Eventually(t, func() bool { return reader.Resolutions(t, "dns", true) >= before+3 }, wait, tick)
	assert.Equal(t, calls, rec.Calls())
	assert.Equal(t, updates, reader.Updates(t, "dns"))
	assert.Equal(t, int64(3), reader.Updates(t, "dns"))
	assert.Equal(t, int64(2), reader.Backends(t, "dns"))
}

func TestNXDOMAINIsEmptySet(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "10.0.0.1")
	r, rec, reader := startResolver(t, fastCfg(srv))
	require.Equal(t, []string{"10.0.0.1:4317"}, r.Endpoints())
	srv.setA(gw) // forget the name: NXDOMAIN
	rec.WaitFor(t, []string{}, wait)
	assert.Empty(t, r.Endpoints())
	assert.Equal(t, int64(0), reader.Resolutions(t, "dns", false))
	assert.Equal(t, int64(0), reader.Backends(t, "dns"))
}

// failureKeepsLastGood breaks the server with breakIt, checks that the
// resolver counts failures without touching the set, then repairs it.
func failureKeepsLastGood(t *testing.T, srv *testServer, breakIt, repair func()) {
	t.Helper()
	srv.setA(gw, "10.0.0.1", "10.0.0.2")
	r, rec, reader := startResolver(t, fastCfg(srv))
	want := []string{"10.0.0.1:4317", "10.0.0.2:4317"}
	require.Equal(t, want, r.Endpoints())

	breakIt()
	require.Eventually(t, func() bool { return reader.Resolutions(t, "dns", false) >= 3 }, wait, tick)
	assert.Equal(t, want, r.Endpoints())
	assert.Equal(t, 1, rec.Calls(), "a failure must never reach the listener")
	assert.Equal(t, int64(2), reader.Backends(t, "dns"))

	repair()
	srv.setA(gw, "10.0.0.9")
	rec.WaitFor(t, []string{"10.0.0.9:4317"}, wait)
}

func TestServerStoppedKeepsLastGood(t *testing.T) {
	srv := newTestServer(t)
	failureKeepsLastGood(t, srv, srv.stop, srv.restart)
}

func TestSlowServerKeepsLastGood(t *testing.T) {
	srv := newTestServer(t)
	failureKeepsLastGood(t, srv, func() { srv.setDelay(time.Second) }, func() { srv.setDelay(0) })
}

func TestServerErrorsKeepLastGood(t *testing.T) {
	for _, rc := range []int{mdns.RcodeServerFailure, mdns.RcodeRefused} {
		t.Run(mdns.RcodeToString[rc], func(t *testing.T) {
			srv := newTestServer(t)
			failureKeepsLastGood(t, srv, func() { srv.setRcode(rc) }, func() { srv.setRcode(mdns.RcodeSuccess) })
		})
	}
}

func TestAAAA(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "fd00::2", "10.0.0.1", "FD00:0:0::1")
	r, _, _ := startResolver(t, fastCfg(srv))
	assert.Equal(t, []string{"10.0.0.1:4317", "[fd00::1]:4317", "[fd00::2]:4317"}, r.Endpoints())
}

func TestSRV(t *testing.T) {
	const name = "_otlp-grpc._tcp.gateway-collector-headless.observability.svc.cluster.local"
	srv := newTestServer(t)
	srv.setSRV(name,
		&mdns.SRV{Target: "gw-1.gateway-collector-headless.observability.svc.cluster.local.", Port: 4317},
		&mdns.SRV{Target: "GW-0.gateway-collector-headless.observability.svc.cluster.local.", Port: 4317},
		&mdns.SRV{Target: ".", Port: 4317}, // "not available" must be ignored
	)
	cfg := fastCfg(srv)
	cfg.Hostname = name
	cfg.RecordType = "srv"
	r, rec, _ := startResolver(t, cfg)
	assert.Equal(t, []string{
		"gw-0.gateway-collector-headless.observability.svc.cluster.local:4317",
		"gw-1.gateway-collector-headless.observability.svc.cluster.local:4317",
	}, r.Endpoints())

	srv.setSRV(name, &mdns.SRV{Target: "gw-2.example.", Port: 14317})
	rec.WaitFor(t, []string{"gw-2.example:14317"}, wait)
}

func TestStartNeverFails(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "10.0.0.7")
	srv.setDelay(time.Hour)
	cfg := fastCfg(srv)
	begin := time.Now()
	r, rec, reader := startResolver(t, cfg)
	assert.Less(t, time.Since(begin), cfg.Timeout+time.Second, "Start is bounded by the timeout")
	assert.Empty(t, r.Endpoints())
	assert.Equal(t, int64(1), reader.Resolutions(t, "dns", false))

	srv.setDelay(0) // the source heals: backoff retries find it
	rec.WaitFor(t, []string{"10.0.0.7:4317"}, wait)
}

func TestShutdownAbortsInFlightLookup(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "10.0.0.1")
	cfg := fastCfg(srv)
	cfg.Timeout = time.Hour
	r, _, _ := startResolver(t, cfg)
	srv.setDelay(time.Hour)
	q := srv.queries.Load()
	require.Eventually(t, func() bool { return srv.queries.Load() > q }, wait, tick)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, r.Shutdown(ctx))
}

func TestLifecycle(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "10.0.0.1")
	r, err := New(fastCfg(srv), resolver.Settings{}, nil)
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()), "shutdown before start")
	require.NoError(t, r.Shutdown(context.Background()), "idempotent")
	require.ErrorIs(t, r.Start(context.Background()), resolver.ErrShutdown)

	r, err = New(fastCfg(srv), resolver.Settings{}, nil)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	require.ErrorIs(t, r.Start(context.Background()), resolver.ErrAlreadyStarted)
	require.Equal(t, []string{"10.0.0.1:4317"}, r.Endpoints())
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()))
}

func TestEndpointsIsACopy(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "10.0.0.1")
	r, _, _ := startResolver(t, fastCfg(srv))
	eps := r.Endpoints()
	eps[0] = "mutated"
	assert.Equal(t, []string{"10.0.0.1:4317"}, r.Endpoints())
}

func TestIPLiteralHostname(t *testing.T) {
	cfg := resolver.DNSConfig{Hostname: "::1", Port: 4318}
	r, _, reader := startResolver(t, cfg)
	assert.Equal(t, []string{"[::1]:4318"}, r.Endpoints())
	assert.Equal(t, int64(1), reader.Resolutions(t, "dns", true))
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]resolver.DNSConfig{
		"no hostname":    {},
		"bad port":       {Hostname: gw, Port: 70000},
		"neg interval":   {Hostname: gw, Interval: -time.Second},
		"bad nameserver": {Hostname: gw, Nameserver: "a b:53"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(cfg, resolver.Settings{}, nil)
			require.ErrorIs(t, err, resolver.ErrInvalidConfig)
		})
	}
}

// The system-resolver path: a Go net.Resolver whose queries go to the test
// server, so its error classification is checked against real answers.
func TestSystemResolverPath(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "10.0.0.1", "fd00::1")
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.addr)
	}}
	cfg := fastCfg(srv)
	cfg.Hostname = gw + "." // fully qualified: no search domains
	cfg.Nameserver = ""
	r, rec, reader := startResolver(t, cfg, WithNetResolver(nr))
	assert.Equal(t, []string{"10.0.0.1:4317", "[fd00::1]:4317"}, r.Endpoints())

	srv.setRcode(mdns.RcodeServerFailure)
	require.Eventually(t, func() bool { return reader.Resolutions(t, "dns", false) >= 2 }, wait, tick)
	assert.Equal(t, []string{"10.0.0.1:4317", "[fd00::1]:4317"}, r.Endpoints())

	srv.setRcode(mdns.RcodeSuccess)
	srv.setA(gw)
	rec.WaitFor(t, []string{}, wait)
}

// A DNS answer is untrusted input: a name with more addresses than
// resolver.MaxEndpoints (the answers come over TCP, up to 64 KiB each) is
// refused whole and the last good set stays; SRV targets that are not
// valid host names are dropped and counted.
func TestAnswersAreBounded(t *testing.T) {
	srv := newTestServer(t)
	srv.setA(gw, "10.0.0.1")
	r, _, reader := startResolver(t, fastCfg(srv))
	require.Equal(t, []string{"10.0.0.1:4317"}, r.Endpoints())

	var ips []string
	for i := range 3000 {
		ips = append(ips, fmt.Sprintf("10.1.%d.%d", i>>8, i&255))
	}
	for i := range 2000 {
		ips = append(ips, fmt.Sprintf("fd00::%x", i+1))
	}
	srv.setA(gw, ips...)
	require.Eventually(t, func() bool { return reader.Refused(t, "dns", "too_many") > 0 }, wait, tick,
		"failures %d, endpoints %d", reader.Resolutions(t, "dns", false), len(r.Endpoints()))
	assert.Equal(t, []string{"10.0.0.1:4317"}, r.Endpoints(), "the last good set stays")
	assert.Positive(t, srv.tcpQueries.Load(), "the answers were truncated over UDP and fetched over TCP")

	srv.setA(gw, ips[:3000]...)
	require.Eventually(t, func() bool { return len(r.Endpoints()) == 3000 }, wait, tick)

	srv.setSRV("_otlp._tcp."+gw,
		&mdns.SRV{Target: "gw-1.example.", Port: 4317},
		&mdns.SRV{Target: "gw_2-.example.", Port: 4317},
		&mdns.SRV{Target: "gw-3.example.", Port: 0},
		&mdns.SRV{Target: ".", Port: 4317},
	)
	cfg := fastCfg(srv)
	cfg.Hostname, cfg.RecordType = "_otlp._tcp."+gw, resolver.RecordTypeSRV
	rs, _, sreader := startResolver(t, cfg)
	assert.Equal(t, []string{"gw-1.example:4317"}, rs.Endpoints())
	assert.Equal(t, int64(2), sreader.Refused(t, "dns", "invalid"))
}
