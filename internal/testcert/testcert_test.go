package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLeafVerifiesAgainstItsCAOnly(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA(dir, "handoff")
	require.NoError(t, err)
	other, err := NewCA(t.TempDir(), "other")
	require.NoError(t, err)
	leaf, err := ca.Issue("gateway", []string{"handoff.gateway"}, []net.IP{net.ParseIP("127.0.0.1")})
	require.NoError(t, err)

	pair, err := tls.LoadX509KeyPair(leaf.CertFile, leaf.KeyFile)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	for _, tt := range []struct {
		name  string
		caPEM string
		usage x509.ExtKeyUsage
		host  string
		ok    bool
	}{
		{"server by name", ca.CertFile, x509.ExtKeyUsageServerAuth, "handoff.gateway", true},
		{"server by IP", ca.CertFile, x509.ExtKeyUsageServerAuth, "127.0.0.1", true},
		{"client", ca.CertFile, x509.ExtKeyUsageClientAuth, "", true},
		{"wrong name", ca.CertFile, x509.ExtKeyUsageServerAuth, "other.gateway", false},
		{"other CA", other.CertFile, x509.ExtKeyUsageClientAuth, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := os.ReadFile(tt.caPEM)
			require.NoError(t, err)
			pool := x509.NewCertPool()
			require.True(t, pool.AppendCertsFromPEM(raw))
			_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
	_, err = ca.Issue("nothing", nil, nil)
	assert.ErrorIs(t, err, ErrNoNames)
}

func TestSecretDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, SecretDir(dir, []string{"handoff.gateway"}, nil))
	pair, err := tls.LoadX509KeyPair(dir+"/tls.crt", dir+"/tls.key")
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	raw, err := os.ReadFile(dir + "/ca.crt")
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(raw))
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "handoff.gateway"})
	assert.NoError(t, err)
	assert.ErrorIs(t, SecretDir(t.TempDir(), nil, nil), ErrNoNames)
}
