package dnsserver

import (
	"context"
	"net"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAnswersThroughGoResolver queries the server with Go's own resolver,
// as the gRPC dns resolver in the demo does.
func TestAnswersThroughGoResolver(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	require.NoError(t, err)
	defer s.Stop()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	s.Set("Gateways.Test", netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.2"))
	tests := []struct {
		name string
		want []string
		err  bool
	}{
		{"gateways.test", []string{"127.0.0.2", "127.0.0.3"}, false},
		{"gateways.test.", []string{"127.0.0.2", "127.0.0.3"}, false},
		{"other.test", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.LookupHost(ctx, tt.name)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			sort.Strings(got)
			assert.Equal(t, tt.want, got)
		})
	}

	s.Set("gateways.test", netip.MustParseAddr("127.0.0.4"))
	got, err := r.LookupHost(ctx, "gateways.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.4"}, got)
	s.Set("gateways.test")
	_, err = r.LookupHost(ctx, "gateways.test")
	require.Error(t, err)
	assert.Positive(t, s.Queries())
	s.Stop()
	s.Stop()
}

// FuzzServe sends arbitrary packets to the server: it must keep answering
// real queries afterwards.
func FuzzServe(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("gateways.test.", dns.TypeA)
	packed, err := q.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(packed)
	f.Add([]byte{0, 1, 2})
	f.Add([]byte{})
	s, err := Start("127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer s.Stop()
	s.Set("gateways.test", netip.MustParseAddr("127.0.0.2"))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		c, err := net.Dial("udp", s.Addr())
		require.NoError(t, err)
		defer c.Close()
		_, _ = c.Write(pkt)
		resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, s.Addr())
		require.NoError(t, err)
		require.Len(t, resp.Answer, 1)
	})
}
