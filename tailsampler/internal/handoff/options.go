package handoff

import (
	"time"

	"github.com/tailgate-otel/tailgate/resolver"
)

// Option configures New. The interface is sealed: only this package
// provides options.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// ResolverFactory builds the resolver that reports the gateway set; it has
// the signature of resolver/all.New.
type ResolverFactory func(resolver.Config, resolver.Settings, resolver.Listener) (resolver.Resolver, error)

type options struct {
	decisionWait    time.Duration
	resolverFactory ResolverFactory
	peerAddress     func(endpoint string) string
	initialBackoff  time.Duration
	maxRequestBytes int
	settleDelay     time.Duration
	logInterval     time.Duration
	lookup          LookupFunc
}

// WithDecisionWait gives the processor's decision_wait, the default of
// `window`.
func WithDecisionWait(d time.Duration) Option {
	return optionFunc(func(o *options) { o.decisionWait = d })
}

// WithResolverFactory replaces resolver/all.New, e.g. to drive the
// gateway set from code or from a test.
func WithResolverFactory(f ResolverFactory) Option {
	return optionFunc(func(o *options) {
		if f != nil {
			o.resolverFactory = f
		}
	})
}

// WithPeerAddress replaces the derivation of a peer's handoff address from
// its ring endpoint (default: same host, peer_port). Tests map ring
// endpoints such as 127.0.0.2:4317 to listeners on 127.0.0.1:<random>.
func WithPeerAddress(f func(endpoint string) string) Option {
	return optionFunc(func(o *options) {
		if f != nil {
			o.peerAddress = f
		}
	})
}

// WithInitialBackoff sets the first delay between two attempts to send to
// a peer (default 100ms, doubled up to 2s, until the window ends).
func WithInitialBackoff(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.initialBackoff = d
		}
	})
}

// WithMaxRequestBytes bounds the encoded size of one request to a peer
// (default: half of the listener's receive limit, listen::
// max_recv_msg_size_mib, which peers are expected to share: 2 MiB with
// gRPC's default of 4 MiB). A single trace larger than that is sent alone.
func WithMaxRequestBytes(n int) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.maxRequestBytes = n
		}
	})
}

// WithSettleDelay sets when the second sweep after a ring change runs
// (default 1s); it catches spans that were being ingested under the old
// view while the first sweep ran. Negative disables it.
func WithSettleDelay(d time.Duration) Option {
	return optionFunc(func(o *options) { o.settleDelay = d })
}

// WithLookup replaces the resolution of ring host names into the addresses
// their gateways connect from (accept_from: ring); default: the system
// resolver.
func WithLookup(f LookupFunc) Option {
	return optionFunc(func(o *options) {
		if f != nil {
			o.lookup = f
		}
	})
}

func defaultOptions() options {
	return options{
		initialBackoff: 100 * time.Millisecond,
		settleDelay:    time.Second,
		logInterval:    10 * time.Second,
		lookup:         defaultLookup,
	}
}
