package resolver

import (
	"net"
	"strings"
	"testing"
)

// FuzzNormalizeEndpoint checks that normalisation never panics, that what
// it accepts is a dialable host:port with a valid port, and that it is
// idempotent (the ring hashes the string, so it must be stable).
func FuzzNormalizeEndpoint(f *testing.F) {
	for _, s := range []string{"gw", "gw:4318", "::1", "[::1]:4318", "10.0.0.1", "[fe80::1%eth0]:1", "GW.", "a:b:c", "[::ffff:1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ep, err := NormalizeEndpoint(s, DefaultPort)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(ep)
		if err != nil {
			t.Fatalf("%q → %q does not split: %v", s, ep, err)
		}
		if _, err := ParsePort(port); err != nil {
			t.Fatalf("%q → %q has port %q", s, ep, port)
		}
		if err := ValidateHost(host); err != nil {
			t.Fatalf("%q → %q has host %q: %v", s, ep, host, err)
		}
		again, err := NormalizeEndpoint(ep, 1)
		if err != nil || again != ep {
			t.Fatalf("not idempotent: %q → %q → %q (%v)", s, ep, again, err)
		}
	})
}

// FuzzParseService checks that accepted service references are what the
// Kubernetes API accepts: lower-case labels, at most one dot.
func FuzzParseService(f *testing.F) {
	for _, s := range []string{"gateway", "gateway.observability", "gw.ns.svc.cluster.local", "Gw", "-", "a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, ns, err := ParseService(s)
		if err != nil {
			return
		}
		if name == "" || len(name) > 63 || len(ns) > 63 || strings.ContainsAny(name+ns, "._ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("%q accepted as %q / %q", s, name, ns)
		}
		joined := name
		if ns != "" {
			joined += "." + ns
		}
		if joined != s {
			t.Fatalf("%q split into %q / %q", s, name, ns)
		}
	})
}

// FuzzConfigValidate feeds arbitrary DNS and k8s settings through
// Validate: it must never panic, and a config it accepts must yield
// defaults a resolver can use.
func FuzzConfigValidate(f *testing.F) {
	f.Add("gw.example", 4317, "127.0.0.1:53", "A", "gateway.ns", int32(4317))
	f.Add("", -1, "::1::", "MX", "Bad.Name", int32(0))
	f.Fuzz(func(t *testing.T, host string, port int, nameserver, recordType, service string, k8sPort int32) {
		dns := Config{DNS: &DNSConfig{Hostname: host, Port: Port(port), Nameserver: nameserver, RecordType: recordType}}
		if dns.Validate() == nil {
			d := dns.DNS.WithDefaults()
			if !d.Port.Valid() || d.Interval <= 0 || d.Timeout <= 0 || ValidateHost(d.Hostname) != nil {
				t.Fatalf("accepted unusable dns config %+v", d)
			}
		}
		k := Config{K8s: &K8sConfig{Service: service, Ports: []int32{k8sPort}}}
		if k.Validate() == nil {
			if _, _, err := ParseService(service); err != nil || k8sPort < 1 || k8sPort > 65535 {
				t.Fatalf("accepted bad k8s config %+v", k.K8s)
			}
		}
	})
}
