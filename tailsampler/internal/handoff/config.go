package handoff

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/config/configgrpc"

	"github.com/tailgate-otel/tailgate/resolver"
)

// Defaults applied by New to zero values, so a zero Config field always
// means "default" whether or not the caller started from NewDefaultConfig.
const (
	DefaultPeerPort = 4319
	DefaultHopLimit = 1
	DefaultTimeout  = 5 * time.Second
	// DefaultWindow is used when neither `window` nor WithDecisionWait is
	// given; it is upstream's default decision_wait.
	DefaultWindow = 30 * time.Second
	// maxHopLimit bounds hop_limit: every hop is a network round trip on the
	// data path of a scale event, and a larger value only helps views that
	// disagree for longer than it takes spans to bounce that many times.
	maxHopLimit = 8
)

// ErrInvalidConfig wraps every configuration problem reported by Validate.
var ErrInvalidConfig = errors.New("invalid handoff config")

// Config is the `handoff:` block of `tail_sampling`.
type Config struct {
	// Endpoint is this gateway's own endpoint exactly as agents see it in
	// their ring (typically `${env:POD_IP}:4317`); ownership is computed by
	// hashing trace IDs onto the same strings the agents use.
	Endpoint string `mapstructure:"endpoint"`
	// Resolver discovers the gateway set; it must be the same block as the
	// agents' load_balancing exporter `resolver:` so both sides build the
	// same ring.
	Resolver resolver.Config `mapstructure:"resolver"`
	// Listen is where peers deliver handed-off data. Empty endpoint:
	// `0.0.0.0:<peer_port>`.
	Listen configgrpc.ServerConfig `mapstructure:"listen"`
	// PeerPort is the port of a peer's handoff listener; its host is the
	// host of the peer's ring endpoint. Zero: the port of listen::endpoint
	// if it has one, else 4319.
	PeerPort int `mapstructure:"peer_port"`
	// Client configures the connections to peers (tls, compression,
	// keepalive, headers, auth...). client::endpoint is derived per peer
	// and must not be set.
	Client ClientConfig `mapstructure:"client"`
	// Window is how long after a ring change handed-off data keeps being
	// retried and decisions are forwarded. Zero: the processor's
	// decision_wait (WithDecisionWait), else 30s.
	Window time.Duration `mapstructure:"window"`
	// HopLimit is how many times spans may be forwarded between gateways
	// whose views disagree before the receiver keeps them. Zero: 1.
	HopLimit int `mapstructure:"hop_limit"`
	// Replicate has every span this gateway owns also held by the trace's
	// successor (its next ring choice) until the trace is decided, so that
	// a gateway that dies without a graceful shutdown loses nothing.
	Replicate bool `mapstructure:"replicate"`
	// ReplicaGrace is how long past decision_wait a successor waits for
	// the owner's decision before handing the trace back to it, and how
	// long it keeps a kept trace after the owner's decision (the owner's
	// batch and export may still lose it if it crashes). Zero: 5s.
	ReplicaGrace time.Duration `mapstructure:"replica_grace"`
	// AcceptFrom says whose data the handoff listener accepts: `ring` (the
	// hosts of this gateway's view of the set, and those that left it in
	// the last 5 minutes), `authenticated` (any sender the listener
	// authenticated: listen::auth, or a TLS client certificate verified
	// against listen::tls::client_ca_file) or `any`. Empty: authenticated
	// when the listener authenticates its clients, else ring.
	AcceptFrom string `mapstructure:"accept_from"`
	// MaxSpansPerRequest bounds the spans (data and decisions) of one
	// request from a peer; a request with more is refused. Senders split
	// what they send to stay within it. Zero: 65536.
	MaxSpansPerRequest int `mapstructure:"max_spans_per_request"`
	// MaxTracesPerRequest bounds the distinct traces (data and decisions)
	// of one request from a peer; a request with more is refused. Senders
	// split what they send to stay within it. Zero: 16384.
	MaxTracesPerRequest int `mapstructure:"max_traces_per_request"`
}

// DefaultReplicaGrace covers a batch processor's default 5s timeout after
// the tail sampler.
const DefaultReplicaGrace = 5 * time.Second

// ClientConfig is a gRPC client configuration plus a per-request timeout.
type ClientConfig struct {
	configgrpc.ClientConfig `mapstructure:",squash"`
	// Timeout bounds one request to a peer. Zero: 5s.
	Timeout time.Duration `mapstructure:"timeout"`
}

// NewDefaultConfig returns the defaults with the required keys (endpoint,
// resolver) unset. Peers are reached over plaintext gRPC by default, as
// the listener serves plaintext by default; set both `listen::tls` and
// `client::tls` to encrypt. peer_port and listen::endpoint stay empty:
// each defaults to the other (resolve), which a value filled in here
// would defeat, since a YAML block setting only one of them keeps the
// other from here.
func NewDefaultConfig() Config {
	cc := configgrpc.NewDefaultClientConfig()
	cc.TLS.Insecure = true
	return Config{
		Listen:   configgrpc.NewDefaultServerConfig(),
		Client:   ClientConfig{ClientConfig: cc, Timeout: DefaultTimeout},
		HopLimit: DefaultHopLimit,
	}
}

// Validate reports every problem at once, each naming its key under
// `handoff::`.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("handoff::endpoint: must not be empty (this gateway's endpoint as agents see it, e.g. ${env:POD_IP}:4317)"))
	} else if _, err := resolver.NormalizeEndpoint(c.Endpoint, resolver.DefaultPort); err != nil {
		errs = append(errs, fmt.Errorf("handoff::endpoint: %w", err))
	}
	if err := c.Resolver.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("handoff::resolver: %w", err))
	}
	if err := c.Listen.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("handoff::listen: %w", err))
	}
	if ep := c.Listen.NetAddr.Endpoint; ep != "" {
		if _, port, err := net.SplitHostPort(ep); err != nil {
			errs = append(errs, fmt.Errorf("handoff::listen::endpoint: %q: %w", ep, err))
		} else if _, err := strconv.Atoi(port); err != nil {
			errs = append(errs, fmt.Errorf("handoff::listen::endpoint: %q: port must be a number", ep))
		}
	}
	if c.PeerPort < 0 || c.PeerPort > 65535 {
		errs = append(errs, fmt.Errorf("handoff::peer_port: %d: %w", c.PeerPort, resolver.ErrBadPort))
	}
	if c.Client.Endpoint != "" {
		errs = append(errs, errors.New("handoff::client::endpoint: must not be set, each peer's address is derived from its ring endpoint and peer_port"))
	}
	if err := c.Client.ClientConfig.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("handoff::client: %w", err))
	}
	if c.Client.Timeout < 0 {
		errs = append(errs, fmt.Errorf("handoff::client::timeout: must be positive, got %s", c.Client.Timeout))
	}
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("handoff::window: must be positive, got %s", c.Window))
	}
	if c.ReplicaGrace < 0 {
		errs = append(errs, fmt.Errorf("handoff::replica_grace: must be positive, got %s", c.ReplicaGrace))
	}
	if c.HopLimit < 0 || c.HopLimit > maxHopLimit {
		errs = append(errs, fmt.Errorf("handoff::hop_limit: %d: must be between 1 and %d", c.HopLimit, maxHopLimit))
	}
	switch c.AcceptFrom {
	case "", AcceptRing, AcceptAny:
	case AcceptAuthenticated:
		if !c.listenAuthenticates() {
			errs = append(errs, errors.New("handoff::accept_from: authenticated needs a listener that authenticates its clients: set handoff::listen::auth, or handoff::listen::tls::client_ca_file"))
		}
	default:
		errs = append(errs, fmt.Errorf("handoff::accept_from: %q: must be one of ring, authenticated, any", c.AcceptFrom))
	}
	if c.MaxSpansPerRequest < 0 {
		errs = append(errs, fmt.Errorf("handoff::max_spans_per_request: must be positive, got %d", c.MaxSpansPerRequest))
	}
	if c.MaxTracesPerRequest < 0 {
		errs = append(errs, fmt.Errorf("handoff::max_traces_per_request: must be positive, got %d", c.MaxTracesPerRequest))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// listenAuthenticates reports whether the listener authenticates its
// clients: an auth extension, or TLS that requires client certificates.
func (c *Config) listenAuthenticates() bool {
	if c.Listen.Auth.HasValue() {
		return true
	}
	return c.Listen.TLS.HasValue() && c.Listen.TLS.Get().ClientCAFile != ""
}

// resolved is a validated Config with every default applied.
type resolved struct {
	Config
	self       string // normalised Endpoint
	acceptFrom string // AcceptFrom with its default
}

// grpcDefaultMaxRecvMsgSize is gRPC's receive limit when
// listen::max_recv_msg_size_mib is not set.
const grpcDefaultMaxRecvMsgSize = 4 << 20

// limits are the per-request limits this gateway enforces on what it
// receives, and keeps to in what it sends (peers run the same config).
func (r resolved) limits() requestLimits {
	return requestLimits{spans: r.MaxSpansPerRequest, traces: r.MaxTracesPerRequest}
}

// maxRecvBytes is the largest message the listener accepts.
func (r resolved) maxRecvBytes() int {
	if mib := r.Listen.MaxRecvMsgSizeMiB; mib > 0 && mib <= 1<<20 {
		return mib << 20
	}
	return grpcDefaultMaxRecvMsgSize
}

func (c Config) resolve(decisionWait time.Duration) (resolved, error) {
	if err := c.Validate(); err != nil {
		return resolved{}, err
	}
	self, _ := resolver.NormalizeEndpoint(c.Endpoint, resolver.DefaultPort)
	if c.PeerPort == 0 {
		c.PeerPort = DefaultPeerPort
		if _, port, err := net.SplitHostPort(c.Listen.NetAddr.Endpoint); err == nil {
			if p, err := resolver.ParsePort(port); err == nil {
				c.PeerPort = p
			}
		}
	}
	if c.Listen.NetAddr.Endpoint == "" {
		c.Listen.NetAddr.Endpoint = net.JoinHostPort("0.0.0.0", strconv.Itoa(c.PeerPort))
	}
	if c.Listen.NetAddr.Transport == "" {
		c.Listen.NetAddr.Transport = "tcp"
	}
	if c.Client.Timeout == 0 {
		c.Client.Timeout = DefaultTimeout
	}
	if c.Window == 0 {
		c.Window = decisionWait
		if c.Window <= 0 {
			c.Window = DefaultWindow
		}
	}
	if c.HopLimit == 0 {
		c.HopLimit = DefaultHopLimit
	}
	if c.ReplicaGrace == 0 {
		c.ReplicaGrace = DefaultReplicaGrace
	}
	if c.MaxSpansPerRequest == 0 {
		c.MaxSpansPerRequest = DefaultMaxSpansPerRequest
	}
	if c.MaxTracesPerRequest == 0 {
		c.MaxTracesPerRequest = DefaultMaxTracesPerRequest
	}
	accept := c.AcceptFrom
	if accept == "" {
		accept = AcceptRing
		if c.listenAuthenticates() {
			accept = AcceptAuthenticated
		}
	}
	return resolved{Config: c, self: self, acceptFrom: accept}, nil
}

// PeerAddress returns the handoff address of the peer whose ring endpoint
// is ep: same host, handoff port. "10.0.0.5:4317" → "10.0.0.5:4319",
// "[fd00::5]:4317" → "[fd00::5]:4319".
func PeerAddress(ep string, peerPort int) string {
	host, _, err := net.SplitHostPort(ep)
	if err != nil {
		host = ep
	}
	return net.JoinHostPort(host, strconv.Itoa(peerPort))
}
