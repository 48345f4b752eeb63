package resolver

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultPort is the OTLP/gRPC port given to endpoints written without one.
const DefaultPort = 4317

// Errors returned by the parsing helpers; wrapped with the offending input.
var (
	ErrEmpty       = errors.New("must not be empty")
	ErrBadPort     = errors.New("port must be a number between 1 and 65535")
	ErrBadHost     = errors.New("not a valid host name or IP address")
	ErrBadEndpoint = errors.New("not a valid host[:port] endpoint")
	ErrBadService  = errors.New("must be <name> or <name>.<namespace> (DNS labels)")
	// ErrTooManyEndpoints: a resolution found more than MaxEndpoints.
	ErrTooManyEndpoints = errors.New("more endpoints than the limit of 4096")
)

// MaxEndpoints bounds the endpoint set a resolver publishes. Every
// endpoint costs a connection (and a queue) on every agent, so a DNS
// answer or a set of EndpointSlices with more is refused, and the last
// good set stays (a truncated set would route differently on agents that
// saw another part of it).
const MaxEndpoints = 4096

// NormalizeEndpoint turns a user-written endpoint into the canonical
// "host:port" form used by the ring: a missing port becomes defaultPort,
// host names are lower-cased (DNS is case-insensitive and the ring hashes
// the string, so two agents must spell a gateway the same way), IPv6
// literals are written canonically inside brackets (zones such as %eth0 are
// refused) and the port loses leading zeros. It is idempotent.
//
//	gw            → gw:4317
//	gw:4318       → gw:4318
//	::1           → [::1]:4317
//	[::1]:4318    → [::1]:4318
//	10.0.0.1      → 10.0.0.1:4317
func NormalizeEndpoint(s string, defaultPort int) (string, error) {
	if s == "" {
		return "", ErrEmpty
	}
	var host, port string
	switch {
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", fmt.Errorf("%q: %w", s, ErrBadEndpoint)
		}
		host, port = s[1:end], s[end+1:]
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", fmt.Errorf("%q: %w", s, ErrBadEndpoint)
		}
		host = addr.String()
		switch {
		case port == "":
		case port[0] == ':':
			port = port[1:]
			if port == "" {
				return "", fmt.Errorf("%q: %w", s, ErrBadPort)
			}
		default:
			return "", fmt.Errorf("%q: %w", s, ErrBadEndpoint)
		}
	case strings.Count(s, ":") > 1:
		// Only a bare IPv6 literal may carry several colons.
		addr, err := netip.ParseAddr(s)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", fmt.Errorf("%q: %w", s, ErrBadEndpoint)
		}
		host = addr.String()
	default:
		var found bool
		host, port, found = strings.Cut(s, ":")
		if found && port == "" {
			return "", fmt.Errorf("%q: %w", s, ErrBadPort)
		}
		if err := ValidateHost(host); err != nil {
			return "", fmt.Errorf("%q: %w", s, err)
		}
		host = strings.ToLower(host)
	}
	p := defaultPort
	if port != "" {
		var err error
		if p, err = ParsePort(port); err != nil {
			return "", fmt.Errorf("%q: %w", s, err)
		}
	} else if p < 1 || p > 65535 {
		return "", fmt.Errorf("default port %d: %w", p, ErrBadPort)
	}
	if strings.IndexByte(host, ':') >= 0 {
		return "[" + host + "]:" + strconv.Itoa(p), nil
	}
	return host + ":" + strconv.Itoa(p), nil
}

// ParsePort parses a decimal port in 1..65535. Only ASCII digits are
// accepted: no sign, no spaces, no service names.
func ParsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, ErrBadPort
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, ErrBadPort
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, ErrBadPort
	}
	return n, nil
}

// ValidateHost accepts an IPv4 or IPv6 literal (unbracketed) or a DNS name:
// at most 253 characters, dot-separated labels of 1–63 letters, digits,
// '-' or '_' (SRV owner names use '_'), not starting or ending with '-',
// with an optional trailing dot.
func ValidateHost(h string) error {
	if h == "" {
		return ErrEmpty
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	name := strings.TrimSuffix(h, ".")
	if name == "" || len(name) > 253 {
		return ErrBadHost
	}
	for label := range strings.SplitSeq(name, ".") {
		if !validLabel(label, true) {
			return ErrBadHost
		}
	}
	return nil
}

func validLabel(l string, allowUnderscore bool) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		case c == '_' && allowUnderscore:
		default:
			return false
		}
	}
	return true
}

// ParseService splits a Kubernetes service reference, "name" or
// "name.namespace", as the k8s resolver's `service` key takes it. The name
// must be an RFC 1035 label (lower case, starting with a letter) and the
// namespace an RFC 1123 label, as the Kubernetes API requires; a longer
// DNS name such as "svc.ns.svc.cluster.local" is refused rather than
// silently read as namespace "ns.svc.cluster.local". namespace is empty when
// not given.
func ParseService(s string) (name, namespace string, err error) {
	name, namespace, found := strings.Cut(s, ".")
	if !isLowerLabel(name, true) || (found && !isLowerLabel(namespace, false)) {
		return "", "", fmt.Errorf("%q: %w", s, ErrBadService)
	}
	return name, namespace, nil
}

func isLowerLabel(l string, mustStartWithLetter bool) bool {
	if !validLabel(l, false) {
		return false
	}
	if mustStartWithLetter && (l[0] < 'a' || l[0] > 'z') {
		return false
	}
	for i := 0; i < len(l); i++ {
		if l[i] >= 'A' && l[i] <= 'Z' {
			return false
		}
	}
	return true
}
