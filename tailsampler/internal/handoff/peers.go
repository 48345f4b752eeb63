package handoff

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Values of handoff::accept_from.
const (
	// AcceptRing accepts data only from the hosts of this gateway's view of
	// the gateway set, and from those that left it within FormerPeerGrace
	// (a leaving gateway drains after it left the set).
	AcceptRing = "ring"
	// AcceptAuthenticated accepts data from any sender the listener
	// authenticated: listen::auth, or TLS client certificates verified
	// against listen::tls::client_ca_file.
	AcceptAuthenticated = "authenticated"
	// AcceptAny accepts data from anyone who reaches the listener (and
	// passes its auth, if any): for setups where senders do not appear
	// with their ring address (NAT, some service meshes).
	AcceptAny = "any"
)

// FormerPeerGrace is how long a gateway that left the set is still
// accepted as a sender: it hands its traces off after it left (preStop,
// then the drain at SIGTERM).
const FormerPeerGrace = 5 * time.Minute

// resolveEvery bounds how often host names of the ring are resolved again
// because a sender was not recognised.
const resolveEvery = 10 * time.Second

// peerFilter knows which addresses belong to the gateways of the view. Ring
// endpoints are normally IP addresses (DNS and k8s resolvers); host names
// (static hostnames, k8s return_hostnames) are resolved, in the
// background, to the addresses a sender would connect from.
type peerFilter struct {
	mu sync.RWMutex
	// hosts maps a ring host to zero while it is in the view, and to when
	// it left otherwise.
	hosts map[string]time.Time
	// addrs maps an address to the ring host it belongs to.
	addrs map[netip.Addr]string
	// names is the hosts of the view that are not IP addresses.
	names        []string
	lastResolved time.Time
}

func newPeerFilter() *peerFilter {
	return &peerFilter{hosts: map[string]time.Time{}, addrs: map[netip.Addr]string{}}
}

// update takes a new view of the set at now and returns the host names
// that need resolving.
func (f *peerFilter) update(endpoints []string, now time.Time) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	in := make(map[string]bool, len(endpoints))
	f.names = f.names[:0]
	for _, ep := range endpoints {
		host := endpointHost(ep)
		in[host] = true
		f.hosts[host] = time.Time{}
		if a, err := netip.ParseAddr(host); err == nil {
			f.addrs[a.Unmap()] = host
		} else {
			f.names = append(f.names, host)
		}
	}
	for host, left := range f.hosts {
		switch {
		case in[host]:
		case left.IsZero():
			f.hosts[host] = now
		case now.Sub(left) > FormerPeerGrace:
			delete(f.hosts, host)
		}
	}
	for a, host := range f.addrs {
		if _, ok := f.hosts[host]; !ok {
			delete(f.addrs, a)
		}
	}
	return append([]string(nil), f.names...)
}

// resolved records the addresses of a ring host name.
func (f *peerFilter) resolved(host string, addrs []netip.Addr, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.hosts[host]; !ok {
		return // left the view meanwhile
	}
	for _, a := range addrs {
		f.addrs[a.Unmap()] = host
	}
	f.lastResolved = now
}

// admits reports whether a sender at a belongs to a gateway of the view,
// or to one that left it within FormerPeerGrace. resolve lists the view's
// host names when the sender is unknown and they were last resolved long
// enough ago to try again (a host name may have a new address).
func (f *peerFilter) admits(a netip.Addr, now time.Time) (ok bool, resolve []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if host, known := f.addrs[a.Unmap()]; known {
		if left, member := f.hosts[host]; member && (left.IsZero() || now.Sub(left) <= FormerPeerGrace) {
			return true, nil
		}
	}
	if len(f.names) > 0 && now.Sub(f.lastResolved) > resolveEvery {
		return false, append([]string(nil), f.names...)
	}
	return false, nil
}

// endpointHost is the host of a ring endpoint ("10.0.0.5:4317" → "10.0.0.5").
func endpointHost(ep string) string {
	host, _, err := net.SplitHostPort(ep)
	if err != nil {
		return ep
	}
	return host
}

// senderAddr is the IP address of a gRPC peer; ok is false for anything
// but an IP transport (e.g. a unix socket).
func senderAddr(addr net.Addr) (netip.Addr, bool) {
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case nil:
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// LookupFunc resolves a host name to its addresses; it has the signature
// of (*net.Resolver).LookupNetIP with network "ip".
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

func defaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}
