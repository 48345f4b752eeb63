package tailsampler

import (
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/tailsampler/internal/handoff"
)

// HandoffConfig is the `handoff:` block (Config.Handoff): this gateway's
// endpoint as agents see it, the resolver of the gateway set, the
// listener peers deliver to and the client that reaches them. It is an
// alias so that code can name and build it while the engine stays
// internal. In code, start from the block the factory's default
// configuration holds, which is what YAML decodes onto and which knows a
// WithHandoffResolver option:
//
//	h := cfg.Handoff.GetOrInsertDefault() // turns the handoff on
//	h.Endpoint = "10.0.0.7:4317"
type HandoffConfig = handoff.Config

// HandoffClientConfig is the `handoff::client` block: a gRPC client
// configuration plus a per-request timeout.
type HandoffClientConfig = handoff.ClientConfig

// Defaults the handoff applies to zero values.
const (
	// DefaultHandoffPeerPort is a peer's handoff port when neither
	// peer_port nor a port in listen::endpoint says otherwise.
	DefaultHandoffPeerPort = handoff.DefaultPeerPort
	// DefaultHandoffHopLimit is hop_limit's default.
	DefaultHandoffHopLimit = handoff.DefaultHopLimit
	// DefaultHandoffTimeout is client::timeout's default.
	DefaultHandoffTimeout = handoff.DefaultTimeout
)

// NewDefaultHandoffConfig returns the block's defaults, with the required
// keys (endpoint, resolver) unset.
func NewDefaultHandoffConfig() HandoffConfig { return handoff.NewDefaultConfig() }

// WithHandoffResolver gives the handoff its gateway set from code instead
// of from `handoff::resolver`: each processor calls f once, at Start, and
// shuts down what f built. The set must be the one the agents route by;
// manual.Source.Resolver given to both this option and the agents'
// lbexporter.WithResolver guarantees it. The default configuration's
// handoff block then carries resolver.FromCode(): a `handoff::resolver`
// set in YAML or code is refused by Validate. A nil f changes nothing.
func WithHandoffResolver(f resolver.Factory) Option {
	return optionFunc(func(o *options) {
		if f == nil {
			return
		}
		o.handoffFromCode = true
		o.handoff = append(o.handoff, handoff.WithResolverFactory(
			func(_ resolver.Config, set resolver.Settings, l resolver.Listener) (resolver.Resolver, error) {
				return f(set, l)
			}))
	})
}

// WithHandoffPeerAddress replaces how the handoff finds a peer's handoff
// listener from the peer's ring endpoint (by default: the endpoint's host
// and peer_port). For programs whose gateways do not share one handoff
// port, e.g. several gateways of one process or host. A nil f changes
// nothing.
func WithHandoffPeerAddress(f func(ringEndpoint string) (handoffAddress string)) Option {
	return optionFunc(func(o *options) {
		if f != nil {
			o.handoff = append(o.handoff, handoff.WithPeerAddress(f))
		}
	})
}

// defaultHandoffConfig is the block under Config.Handoff before any YAML.
func defaultHandoffConfig(o *options) HandoffConfig {
	hc := handoff.NewDefaultConfig()
	if o.handoffFromCode {
		hc.Resolver = resolver.FromCode()
	}
	return hc
}
