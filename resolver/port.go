package resolver

import (
	"fmt"
	"strconv"
	"strings"
)

// Port is a TCP port written in YAML either as an integer (`port: 4317`) or
// as a string (`port: "4317"`). Upstream declares the DNS port as a string,
// and the collector's config loader does not turn YAML integers into
// strings, so upstream refuses `port: 4317`; accepting both keeps every
// upstream config valid and fixes that. Zero means "use the default".
type Port int

// UnmarshalText lets confmap decode a string port. Integers are decoded by
// the loader directly because Port is an int.
func (p *Port) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if s == "" {
		*p = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("port %q is not a number", s)
	}
	*p = Port(n)
	return nil
}

// MarshalText keeps the port printable by `otelcol print-config`.
func (p Port) MarshalText() ([]byte, error) {
	return []byte(strconv.Itoa(int(p))), nil
}

// Valid reports whether p is a usable port; zero (unset) is not.
func (p Port) Valid() bool { return p > 0 && p <= 65535 }
