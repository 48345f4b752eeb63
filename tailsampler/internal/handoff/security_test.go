package handoff

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/testcert"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// rogue sends handoff requests as a client that is no engine: from a
// chosen loopback source address, with chosen credentials.
type rogue struct {
	conn   *grpc.ClientConn
	client ptraceotlp.GRPCClient
}

func newRogue(t *testing.T, target, source string, creds credentials.TransportCredentials, opts ...grpc.DialOption) *rogue {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	opts = append(opts, grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}))
	conn, err := grpc.NewClient("passthrough:///"+target, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &rogue{conn: conn, client: ptraceotlp.NewGRPCClient(conn)}
}

// handoffRequest is well-formed handoff data for traces owned by owner
// under ring, and a sampled decision for one more trace.
func handoffRequest(t *testing.T, ring []string, owner string) (ptrace.Traces, pcommon.TraceID) {
	t.Helper()
	r := hashring.New(ring)
	td := ptrace.NewTraces()
	for id, tr := range workload(31, 100, 2) {
		if r.Get(id[:]) == owner {
			tr.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
	}
	require.Positive(t, td.SpanCount())
	mark(td, 1, time.Now().Add(-time.Second))
	decided := tracegen.TraceID(32, 1)
	appendDecisions(td, 1, []pcommon.TraceID{decided}, nil)
	return td, decided
}

func (r *rogue) send(td ptrace.Traces) error {
	cp := ptrace.NewTraces()
	td.CopyTo(cp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := r.client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(cp))
	return err
}

func refusedCount(t testing.TB, n *node, reason string) int64 {
	return n.counter(t, "refused", attribute.String("reason", reason))
}

// The acceptance test of peer verification: with accept_from: ring (the
// default of a listener without authentication) a request from an
// address outside the gateway set is refused, counted and nothing of it
// applied; the same request from a gateway's address is buffered.
func TestOutOfRingSenderIsRefusedAndCounted(t *testing.T) {
	c := newCluster(t)
	view := []string{epA, epB}
	a := c.add(epA, view, nodeOpt{})
	require.Equal(t, AcceptRing, a.e.cfg.acceptFrom)
	td, decided := handoffRequest(t, view, epA)
	addr := a.e.Addr().String()

	err := newRogue(t, addr, "127.0.0.66", nil).send(td)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "127.0.0.66")
	assert.Empty(t, a.buf.snapshot(), "no data buffered")
	assert.Empty(t, a.buf.decisions(), "no decision applied")
	assert.Equal(t, int64(1), refusedCount(t, a, RefusedNotPeer))

	require.NoError(t, newRogue(t, addr, endpointHost(epB), nil).send(td), "B's address is a gateway's")
	assert.Equal(t, td.SpanCount()-1, sumSpans(a.buf.snapshot()))
	assert.Equal(t, map[pcommon.TraceID]bool{decided: true}, a.buf.decisions())
	assert.Equal(t, int64(1), refusedCount(t, a, RefusedNotPeer), "nothing more refused")
}

// A gateway that left the set keeps being accepted for FormerPeerGrace: it
// hands its traces off after leaving (preStop, then the drain).
func TestFormerGatewayIsAcceptedWithinTheGrace(t *testing.T) {
	c := newCluster(t)
	a := c.add(epA, []string{epA, epB}, nodeOpt{})
	a.res.Set(epA)
	td, _ := handoffRequest(t, []string{epA}, epA)
	require.NoError(t, newRogue(t, a.e.Addr().String(), endpointHost(epB), nil).send(td))
	assert.Equal(t, td.SpanCount()-1, sumSpans(a.buf.snapshot()))

	f := newPeerFilter()
	b := netip.MustParseAddr("127.0.0.3")
	t0 := time.Unix(1000, 0)
	f.update([]string{epA, epB}, t0)
	f.update([]string{epA}, t0.Add(time.Second))
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{t0.Add(time.Second), true},
		{t0.Add(time.Second + FormerPeerGrace), true},
		{t0.Add(2*time.Second + FormerPeerGrace), false},
	} {
		ok, _ := f.admits(b, tt.at)
		assert.Equal(t, tt.want, ok, "%v after it left", tt.at.Sub(t0.Add(time.Second)))
	}
	f.update([]string{epA}, t0.Add(time.Hour))
	assert.NotContains(t, f.hosts, "127.0.0.3", "forgotten after the grace")
	f.update([]string{epA, epB}, t0.Add(2*time.Hour))
	ok, _ := f.admits(b, t0.Add(2*time.Hour))
	assert.True(t, ok, "back in the set")
	ok, _ = f.admits(netip.MustParseAddr("::ffff:127.0.0.3"), t0.Add(2*time.Hour))
	assert.True(t, ok, "IPv4-mapped IPv6 is the same address")
}

// Ring endpoints that are host names (static hostnames, k8s
// return_hostnames) are resolved to recognise their senders.
func TestHostNameRingIsResolved(t *testing.T) {
	c := newCluster(t)
	lookups := make(chan string, 16)
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		lookups <- host
		switch host {
		case "gw-a.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.2")}, nil
		case "gw-b.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.3")}, nil
		}
		return nil, errors.New("no such host")
	}
	view := []string{"gw-a.test:4317", "gw-b.test:4317", "gw-c.test:4317"}
	a := c.add("gw-a.test:4317", view, nodeOpt{options: []Option{WithLookup(lookup)}})
	td, _ := handoffRequest(t, view, "gw-a.test:4317")
	addr := a.e.Addr().String()
	require.Eventually(t, func() bool {
		return newRogue(t, addr, "127.0.0.3", nil).send(td) == nil
	}, 10*time.Second, 20*time.Millisecond, "gw-b.test's address is accepted once resolved")
	err := newRogue(t, addr, "127.0.0.4", nil).send(td)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Positive(t, refusedCount(t, a, RefusedNotPeer))
	seen := map[string]bool{}
	for len(lookups) > 0 {
		seen[<-lookups] = true
	}
	assert.True(t, seen["gw-b.test"] && seen["gw-c.test"], "%v", seen)
}

// tokenAuth is a real collector auth extension (server and gRPC client
// sides), as bearertokenauth is: a request is authenticated when its
// authorization header carries the token.
type tokenAuth struct {
	component.StartFunc
	component.ShutdownFunc
	token string
}

var (
	_ extensionauth.Server     = tokenAuth{}
	_ extensionauth.GRPCClient = tokenAuth{}
)

var errBadToken = errors.New("missing or wrong bearer token")

func (a tokenAuth) Authenticate(ctx context.Context, headers map[string][]string) (context.Context, error) {
	for _, v := range headers["authorization"] {
		if v == "Bearer "+a.token {
			return ctx, nil
		}
	}
	return ctx, errBadToken
}

func (a tokenAuth) PerRPCCredentials() (credentials.PerRPCCredentials, error) {
	return bearer(a.token), nil
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

type extHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.ext }

// Authentication through the collector's auth extensions: the listener's
// `auth` refuses (and counts) a request without the token, and peers
// whose `client::auth` adds it hand off as usual. An authenticating
// listener accepts authenticated senders from any address by default.
func TestAuthExtensionAuthenticatesPeers(t *testing.T) {
	id := component.MustNewID("tokenauth")
	host := extHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{id: tokenAuth{token: "s3cret"}}}
	withAuth := func(cfg *Config) {
		cfg.Listen.Auth = configoptional.Some(configauth.Config{AuthenticatorID: id})
		cfg.Client.Auth = configoptional.Some(configauth.Config{AuthenticatorID: id})
	}
	c := newCluster(t)
	two := []string{epA, epB}
	a := c.add(epA, []string{epA}, nodeOpt{host: host, modify: withAuth})
	b := c.add(epB, two, nodeOpt{host: host, modify: withAuth})
	require.Equal(t, AcceptAuthenticated, b.e.cfg.acceptFrom)
	all := fill(workload(33, 200, 2), []string{epA}, map[string]*node{epA: a})
	a.res.Set(two...)
	want := expect(all, two, epB)
	require.Eventually(t, func() bool { return len(b.buf.snapshot()) == len(want) }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, want, b.buf.snapshot())
	assert.Zero(t, refusedCount(t, b, RefusedUnauthenticated))

	td, _ := handoffRequest(t, two, epB)
	err := newRogue(t, b.e.Addr().String(), endpointHost(epA), nil).send(td)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
	require.Eventually(t, func() bool { return refusedCount(t, b, RefusedUnauthenticated) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, want, b.buf.snapshot(), "nothing of it buffered")

	withToken := newRogue(t, b.e.Addr().String(), "127.0.0.66", nil, grpc.WithPerRPCCredentials(bearer("s3cret")))
	require.NoError(t, withToken.send(td), "an authenticated sender from any address")
}

// handoffTLS makes a CA and the gateways' shared certificate (for
// handoff.gateway.test) and returns the CA and the change to a Config that
// runs the handoff with mutual TLS on them.
func handoffTLS(t *testing.T) (*testcert.CA, func(*Config)) {
	t.Helper()
	ca, err := testcert.NewCA(t.TempDir(), "handoff")
	require.NoError(t, err)
	leaf, err := ca.Issue("gateway", []string{"handoff.gateway.test"}, nil)
	require.NoError(t, err)
	return ca, func(cfg *Config) {
		cfg.Listen.TLS = configoptional.Some(configtls.ServerConfig{
			Config:       configtls.Config{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile},
			ClientCAFile: ca.CertFile,
		})
		cfg.Client.TLS = configtls.ClientConfig{
			Config:     configtls.Config{CAFile: ca.CertFile, CertFile: leaf.CertFile, KeyFile: leaf.KeyFile},
			ServerName: "handoff.gateway.test",
		}
	}
}

// Mutual TLS end to end with real certificates: peers hand off over TLS,
// each verifying the other against the CA; a client without a
// certificate, or with one from another CA, or speaking plaintext, fails
// the handshake and is counted.
func TestMutualTLSHandoff(t *testing.T) {
	ca, withTLS := handoffTLS(t)
	otherCA, err := testcert.NewCA(t.TempDir(), "other")
	require.NoError(t, err)
	otherLeaf, err := otherCA.Issue("intruder", []string{"handoff.gateway.test"}, nil)
	require.NoError(t, err)

	c := newCluster(t)
	two := []string{epA, epB}
	a := c.add(epA, []string{epA}, nodeOpt{modify: withTLS})
	b := c.add(epB, two, nodeOpt{modify: withTLS})
	require.Equal(t, AcceptAuthenticated, b.e.cfg.acceptFrom)
	all := fill(workload(34, 200, 2), []string{epA}, map[string]*node{epA: a})
	a.res.Set(two...)
	want := expect(all, two, epB)
	require.Eventually(t, func() bool { return len(b.buf.snapshot()) == len(want) }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, want, b.buf.snapshot(), "handed off over mutual TLS")
	assert.Zero(t, refusedCount(t, b, RefusedTLS))

	td, _ := handoffRequest(t, two, epB)
	addr := b.e.Addr().String()
	caPool, err := credentials.NewClientTLSFromFile(ca.CertFile, "handoff.gateway.test")
	require.NoError(t, err)
	intruderCfg, err := (&configtls.ClientConfig{
		Config:     configtls.Config{CAFile: ca.CertFile, CertFile: otherLeaf.CertFile, KeyFile: otherLeaf.KeyFile},
		ServerName: "handoff.gateway.test",
	}).LoadTLSConfig(context.Background())
	require.NoError(t, err)
	for i, creds := range []credentials.TransportCredentials{
		caPool,                          // verifies the server, has no client certificate
		credentials.NewTLS(intruderCfg), // a certificate from another CA
		insecure.NewCredentials(),       // plaintext
	} {
		err := newRogue(t, addr, endpointHost(epA), creds).send(td)
		require.Error(t, err, "client %d", i)
		require.Eventually(t, func() bool { return refusedCount(t, b, RefusedTLS) >= int64(i+1) }, 5*time.Second, 5*time.Millisecond, "client %d", i)
	}
	assert.Equal(t, want, b.buf.snapshot(), "nothing of them buffered")
}

// A message over listen::max_recv_msg_size_mib is refused by gRPC before
// it is decoded; the refusal is counted all the same.
func TestTooLargeRequestIsCounted(t *testing.T) {
	c := newCluster(t)
	a := c.add(epA, []string{epA, epB}, nodeOpt{modify: func(cfg *Config) { cfg.Listen.MaxRecvMsgSizeMiB = 1 }})
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("padding", strings.Repeat("x", 2<<20))
	err := newRogue(t, a.e.Addr().String(), endpointHost(epB), nil).send(td)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	require.Eventually(t, func() bool { return refusedCount(t, a, RefusedTooLarge) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 512<<10, a.e.chunkLimits.bytes, "senders keep to half the limit")
}

// Limits and malformed markers are refused over the network too, and
// counted by reason.
func TestLimitsAndMalformedAreRefusedOverTheWire(t *testing.T) {
	c := newCluster(t)
	view := []string{epA, epB}
	a := c.add(epA, view, nodeOpt{modify: func(cfg *Config) { cfg.MaxSpansPerRequest = 10 }})
	r := newRogue(t, a.e.Addr().String(), endpointHost(epB), nil)
	big, _ := handoffRequest(t, view, epA)
	require.Greater(t, big.SpanCount(), 10)
	assert.Equal(t, codes.ResourceExhausted, status.Code(r.send(big)))
	bad := tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 1})[0]
	assert.Equal(t, codes.InvalidArgument, status.Code(r.send(bad)))
	assert.Equal(t, int64(1), refusedCount(t, a, RefusedTooManySpans))
	assert.Equal(t, int64(1), refusedCount(t, a, RefusedMalformed))
	assert.Equal(t, int64(1), a.counter(t, "malformed"))
	assert.Empty(t, a.buf.snapshot())
}

// Plaintext stays possible and says so once, at start; mutual TLS is
// quiet.
func TestPlaintextWarnsOnceAtStart(t *testing.T) {
	_, withTLS := handoffTLS(t)
	for _, tt := range []struct {
		name   string
		modify func(*Config)
		warns  int
	}{
		{"plaintext", nil, 1},
		{"mutual TLS", withTLS, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.WarnLevel)
			c := newCluster(t)
			a := c.add(epA, []string{epA}, nodeOpt{logger: zap.New(core), modify: tt.modify})
			a.res.Set(epA, epB)
			a.res.Set(epA)
			assert.Equal(t, tt.warns, logs.FilterMessageSnippet("plaintext").Len())
		})
	}
}

// Without WithLookup, ring host names go through the system resolver
// (here /etc/hosts: localhost).
func TestHostNameRingUsesTheSystemResolver(t *testing.T) {
	c := newCluster(t)
	view := []string{epA, "localhost:4317"}
	a := c.add(epA, view, nodeOpt{})
	td, _ := handoffRequest(t, view, epA)
	addr := a.e.Addr().String()
	require.Eventually(t, func() bool {
		return newRogue(t, addr, "127.0.0.1", nil).send(td) == nil
	}, 10*time.Second, 20*time.Millisecond, "localhost's address is accepted once resolved")
}
