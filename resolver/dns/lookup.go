package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	mdns "github.com/miekg/dns"

	"github.com/tailgate-otel/tailgate/resolver"
)

// lookuper finds the endpoints of one name. An empty result with a nil
// error means the name authoritatively has no records; any doubt is an error.
type lookuper interface {
	lookup(ctx context.Context) ([]string, error)
}

// systemLookup uses a *net.Resolver (search domains, /etc/hosts, caches).
type systemLookup struct {
	r    *net.Resolver
	host string
	port int
	srv  bool
}

func (s systemLookup) lookup(ctx context.Context) ([]string, error) {
	if s.srv {
		_, recs, err := s.r.LookupSRV(ctx, "", "", s.host)
		if err != nil {
			return notFoundIsEmpty(err)
		}
		out := make([]string, 0, len(recs))
		for _, rec := range recs {
			out = appendSRV(out, rec.Target, rec.Port)
		}
		return out, nil
	}
	addrs, err := s.r.LookupNetIP(ctx, "ip", s.host)
	if err != nil {
		return notFoundIsEmpty(err)
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, joinAddr(a, s.port))
	}
	return out, nil
}

// notFoundIsEmpty turns "no such host" (NXDOMAIN or no records of the
// type) into an empty set and keeps every other error an error.
func notFoundIsEmpty(err error) ([]string, error) {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return []string{}, nil
	}
	return nil, err
}

// directLookup asks one nameserver, so a transport error can never be
// mistaken for an empty answer.
type directLookup struct {
	server string
	host   string // fully qualified
	port   int
	srv    bool
}

// errServer is wrapped by answers whose rcode is neither NOERROR nor NXDOMAIN.
var errServer = errors.New("nameserver answered with an error")

func (d directLookup) lookup(ctx context.Context) ([]string, error) {
	if d.srv {
		resp, err := d.query(ctx, mdns.TypeSRV)
		if err != nil || resp.Rcode == mdns.RcodeNameError {
			return emptyIfNil(err)
		}
		var out []string
		for _, rr := range resp.Answer {
			if srv, ok := rr.(*mdns.SRV); ok {
				out = appendSRV(out, srv.Target, srv.Port)
			}
		}
		return orEmpty(out), nil
	}
	var out []string
	for _, qtype := range [...]uint16{mdns.TypeA, mdns.TypeAAAA} {
		resp, err := d.query(ctx, qtype)
		if err != nil {
			return nil, err
		}
		if resp.Rcode == mdns.RcodeNameError {
			// The name does not exist, for any type.
			return []string{}, nil
		}
		for _, rr := range resp.Answer {
			var ip net.IP
			switch rec := rr.(type) {
			case *mdns.A:
				ip = rec.A
			case *mdns.AAAA:
				ip = rec.AAAA
			default:
				continue // CNAMEs on the way to the addresses
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, joinAddr(a.Unmap(), d.port))
			}
		}
	}
	return orEmpty(out), nil
}

func (d directLookup) query(ctx context.Context, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(d.host, qtype)
	m.RecursionDesired = true
	resp, err := exchange(ctx, "udp", d.server, m)
	if err == nil && resp.Truncated {
		resp, err = exchange(ctx, "tcp", d.server, m)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s at %s: %w", mdns.TypeToString[qtype], d.host, d.server, err)
	}
	if resp.Rcode != mdns.RcodeSuccess && resp.Rcode != mdns.RcodeNameError {
		return nil, fmt.Errorf("%s %s at %s: %w: %s", mdns.TypeToString[qtype], d.host, d.server, errServer, mdns.RcodeToString[resp.Rcode])
	}
	return resp, nil
}

// exchange sends one query on its own connection and closes that
// connection when ctx ends, so Shutdown never waits for a read deadline.
func exchange(ctx context.Context, network, server string, m *mdns.Msg) (*mdns.Msg, error) {
	c := &mdns.Client{Net: network}
	co, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	stop := context.AfterFunc(ctx, func() { _ = co.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, co)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return resp, err
}

func appendSRV(out []string, target string, port uint16) []string {
	if target == "." || target == "" {
		return out // "service decidedly not available here" (RFC 2782)
	}
	if len(target) > 1 && target[len(target)-1] == '.' {
		target = target[:len(target)-1]
	}
	hostport := net.JoinHostPort(target, strconv.Itoa(int(port)))
	ep, err := resolver.NormalizeEndpoint(hostport, 0)
	if err != nil {
		// Port 0 or a name we could not dial: left for the publisher to
		// count and drop.
		return append(out, hostport)
	}
	return append(out, ep)
}

func joinAddr(a netip.Addr, port int) string {
	return netip.AddrPortFrom(a.Unmap(), uint16(port)).String()
}

func emptyIfNil(err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	return []string{}, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
