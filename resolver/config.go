package resolver

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults applied when a key is absent or zero, as upstream does.
const (
	DefaultDNSInterval = 5 * time.Second
	DefaultDNSTimeout  = time.Second
	DefaultK8sTimeout  = time.Minute
)

// DNS record types accepted by `dns::record_type`.
const (
	RecordTypeA   = "A"   // A and AAAA records, joined with dns::port (default)
	RecordTypeSRV = "SRV" // SRV records, each giving target:port
)

// Config is the `resolver:` block of the load-balancing exporter. Exactly
// one mechanism must be set.
type Config struct {
	Static *StaticConfig `mapstructure:"static"`
	DNS    *DNSConfig    `mapstructure:"dns"`
	K8s    *K8sConfig    `mapstructure:"k8s"`

	// fromCode: the component was given a Factory in code, so no
	// mechanism may be set here (see FromCode).
	fromCode bool
}

// FromCode is the block of a component that was given its resolver in
// code (a Factory, through lbexporter.WithResolver or
// tailsampler.WithHandoffResolver): those factories put it in their
// default configuration. Validate then accepts it with no mechanism set,
// and refuses one set in YAML or code, which would otherwise be ignored.
func FromCode() Config { return Config{fromCode: true} }

// IsFromCode reports whether c is FromCode's block.
func (c *Config) IsFromCode() bool { return c.fromCode }

// StaticConfig is a fixed list of endpoints.
type StaticConfig struct {
	// Hostnames are "host", "host:port", "ip", "[ipv6]:port" or a bare IPv6
	// literal; a missing port becomes 4317.
	Hostnames []string `mapstructure:"hostnames"`
}

// DNSConfig resolves one name periodically.
type DNSConfig struct {
	// Hostname is the name to resolve, typically a headless Service.
	Hostname string `mapstructure:"hostname"`
	// Port is joined to every address (A/AAAA only). Integer or string.
	Port Port `mapstructure:"port"`
	// Interval between two successful resolutions.
	Interval time.Duration `mapstructure:"interval"`
	// Timeout bounds one resolution (all its queries together).
	Timeout time.Duration `mapstructure:"timeout"`
	// Nameserver ("host:port", port 53 if omitted), new: query this server
	// directly instead of the system resolver. The name is then not
	// expanded by search domains.
	Nameserver string `mapstructure:"nameserver"`
	// RecordType, new: "A" (default; A and AAAA) or "SRV".
	RecordType string `mapstructure:"record_type"`
}

// K8sConfig watches the EndpointSlices of one Service.
type K8sConfig struct {
	// Service is "name" or "name.namespace". Without a namespace, the pod's
	// own namespace is used (service-account file), else "default".
	Service string `mapstructure:"service"`
	// Ports multiply the endpoints: each ready address gets each port.
	Ports []int32 `mapstructure:"ports"`
	// Timeout bounds each list request and the wait for the first sync in
	// Start.
	Timeout time.Duration `mapstructure:"timeout"`
	// ReturnHostnames yields "<hostname>.<service>.<namespace>:port" (the
	// stable DNS name of a StatefulSet pod behind a headless Service)
	// instead of the pod IP.
	ReturnHostnames bool `mapstructure:"return_hostnames"`
}

// Validate reports every problem at once, each naming its key relative to
// the resolver block (the collector prefixes "resolver: ").
func (c *Config) Validate() error {
	var errs []error
	set := 0
	if c.Static != nil {
		set++
		errs = append(errs, c.Static.validate()...)
	}
	if c.DNS != nil {
		set++
		errs = append(errs, c.DNS.validate()...)
	}
	if c.K8s != nil {
		set++
		errs = append(errs, c.K8s.validate()...)
	}
	switch {
	case c.fromCode && set > 0:
		errs = append(errs, errors.New("static, dns and k8s must not be set: this component takes its endpoints from code (a resolver.Factory option)"))
	case c.fromCode:
	case set == 0:
		errs = append(errs, errors.New("exactly one of static, dns or k8s must be set, none is"))
	case set > 1:
		errs = append(errs, errors.New("exactly one of static, dns or k8s must be set, several are"))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

func (c *StaticConfig) validate() []error {
	if len(c.Hostnames) == 0 {
		return []error{errors.New("static::hostnames: must list at least one endpoint")}
	}
	var errs []error
	for i, h := range c.Hostnames {
		if _, err := NormalizeEndpoint(h, DefaultPort); err != nil {
			errs = append(errs, fmt.Errorf("static::hostnames::%d: %w", i, err))
		}
	}
	return errs
}

// Endpoints returns the normalised, sorted, de-duplicated list. It is only
// meaningful on a validated config; invalid entries are skipped.
func (c *StaticConfig) Endpoints() []string {
	out := make([]string, 0, len(c.Hostnames))
	for _, h := range c.Hostnames {
		if ep, err := NormalizeEndpoint(h, DefaultPort); err == nil {
			out = append(out, ep)
		}
	}
	return SortDedupe(out)
}

func (c *DNSConfig) validate() []error {
	var errs []error
	if c.Hostname == "" {
		errs = append(errs, errors.New("dns::hostname: must not be empty"))
	} else if strings.Contains(c.Hostname, ":") && !isIP(c.Hostname) {
		errs = append(errs, fmt.Errorf("dns::hostname: %q must not contain a port, use dns::port", c.Hostname))
	} else if err := ValidateHost(c.Hostname); err != nil {
		errs = append(errs, fmt.Errorf("dns::hostname: %q: %w", c.Hostname, err))
	}
	if c.Port != 0 && !c.Port.Valid() {
		errs = append(errs, fmt.Errorf("dns::port: %d: %w", c.Port, ErrBadPort))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("dns::interval: must be positive, got %s", c.Interval))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("dns::timeout: must be positive, got %s", c.Timeout))
	}
	if c.Nameserver != "" {
		if _, err := NormalizeEndpoint(c.Nameserver, 53); err != nil {
			errs = append(errs, fmt.Errorf("dns::nameserver: %w", err))
		}
	}
	switch strings.ToUpper(c.RecordType) {
	case "", RecordTypeA:
	case RecordTypeSRV:
		if c.Port != 0 {
			errs = append(errs, errors.New("dns::port: must not be set with record_type SRV, the records carry the port"))
		}
	default:
		errs = append(errs, fmt.Errorf("dns::record_type: %q must be A or SRV", c.RecordType))
	}
	return errs
}

// WithDefaults returns a copy with zero values replaced by the defaults.
func (c DNSConfig) WithDefaults() DNSConfig {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Interval == 0 {
		c.Interval = DefaultDNSInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultDNSTimeout
	}
	c.RecordType = strings.ToUpper(c.RecordType)
	if c.RecordType == "" {
		c.RecordType = RecordTypeA
	}
	return c
}

func (c *K8sConfig) validate() []error {
	var errs []error
	if c.Service == "" {
		errs = append(errs, errors.New("k8s::service: must not be empty"))
	} else if _, _, err := ParseService(c.Service); err != nil {
		errs = append(errs, fmt.Errorf("k8s::service: %w", err))
	}
	for i, p := range c.Ports {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("k8s::ports::%d: %d: %w", i, p, ErrBadPort))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("k8s::timeout: must be positive, got %s", c.Timeout))
	}
	return errs
}

// WithDefaults returns a copy with zero values replaced by the defaults.
func (c K8sConfig) WithDefaults() K8sConfig {
	if len(c.Ports) == 0 {
		c.Ports = []int32{DefaultPort}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultK8sTimeout
	}
	return c
}

func isIP(s string) bool {
	_, err := parseAddr(s)
	return err == nil
}
