package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	mdns "github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/internal/loop"
)

// Resolver polls DNS for the endpoints of one name.
type Resolver struct {
	cfg     resolver.DNSConfig
	opts    options
	lookup  lookuper
	pub     *loop.Publisher
	lc      loop.Lifecycle
	literal []string // set when hostname is an IP literal: no lookup needed
}

var _ resolver.Resolver = (*Resolver)(nil)

// New validates cfg, applies the defaults and builds the resolver. l may be
// nil (then only Endpoints tells the set).
func New(cfg resolver.DNSConfig, set resolver.Settings, l resolver.Listener, opts ...Option) (*Resolver, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.nameserver != "" {
		cfg.Nameserver = o.nameserver
	}
	if err := (&resolver.Config{DNS: &cfg}).Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if o.logEvery <= 0 {
		o.logEvery = cfg.Interval
	}
	pub, err := loop.NewPublisher(resolver.KindDNS, set, l, o.logEvery)
	if err != nil {
		return nil, fmt.Errorf("dns resolver: %w", err)
	}
	r := &Resolver{cfg: cfg, opts: o, pub: pub}
	srv := cfg.RecordType == resolver.RecordTypeSRV
	if a, err := netip.ParseAddr(cfg.Hostname); err == nil && !srv {
		r.literal = []string{joinAddr(a, int(cfg.Port))}
	}
	switch {
	case cfg.Nameserver != "":
		ns, _ := resolver.NormalizeEndpoint(cfg.Nameserver, 53) // validated above
		r.lookup = directLookup{server: ns, host: mdns.Fqdn(cfg.Hostname), port: int(cfg.Port), srv: srv}
	default:
		nr := o.netResolver
		if nr == nil {
			nr = net.DefaultResolver
		}
		r.lookup = systemLookup{r: nr, host: cfg.Hostname, port: int(cfg.Port), srv: srv}
	}
	return r, nil
}

// Start resolves once (bounded by timeout) and then polls in the
// background. A failed first attempt is counted and retried; it never
// fails Start.
func (r *Resolver) Start(ctx context.Context) error {
	runCtx, err := r.lc.Begin(ctx)
	if err != nil {
		return err
	}
	r.pub.Logger().Debug("starting DNS resolver",
		zap.String("hostname", r.cfg.Hostname), zap.String("nameserver", r.cfg.Nameserver),
		zap.String("record_type", r.cfg.RecordType), zap.Duration("interval", r.cfg.Interval),
		zap.Duration("timeout", r.cfg.Timeout))
	ok := r.attempt(runCtx)
	if r.literal != nil {
		return nil // an address never changes: nothing to poll
	}
	r.lc.Go(func(ctx context.Context) {
		loop.Poll(ctx, r.cfg.Interval, r.opts.initialBackoff, ok, r.attempt)
	})
	return nil
}

// Shutdown stops polling and waits for an in-flight lookup to be aborted.
func (r *Resolver) Shutdown(ctx context.Context) error { return r.lc.Stop(ctx) }

// Endpoints returns the last good set.
func (r *Resolver) Endpoints() []string { return r.pub.Endpoints() }

func (r *Resolver) attempt(ctx context.Context) bool {
	if r.literal != nil {
		r.pub.Success(ctx, r.literal)
		return true
	}
	actx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	start := time.Now()
	eps, err := r.lookup.lookup(actx)
	if err != nil {
		if ctx.Err() != nil {
			return false // shutting down: not a resolution failure
		}
		r.pub.Failure(ctx, fmt.Errorf("resolving %q after %s: %w", r.cfg.Hostname, time.Since(start).Round(time.Millisecond), err))
		return false
	}
	r.pub.Success(ctx, eps)
	return true
}
