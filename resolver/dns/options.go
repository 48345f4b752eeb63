package dns

import (
	"net"
	"time"
)

// Option configures a DNS Resolver beyond its YAML config (tests, embedders).
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	initialBackoff time.Duration
	logEvery       time.Duration
	nameserver     string
	netResolver    *net.Resolver
}

// WithInitialBackoff sets the first retry delay after a failure (default
// 250ms); it doubles per failure up to the interval.
func WithInitialBackoff(d time.Duration) Option {
	return optionFunc(func(o *options) { o.initialBackoff = d })
}

// WithLogInterval sets how often a failure may be logged (default: the
// polling interval).
func WithLogInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.logEvery = d })
}

// WithNameserver overrides the config's nameserver ("host:port").
func WithNameserver(addr string) Option {
	return optionFunc(func(o *options) { o.nameserver = addr })
}

// WithNetResolver sets the resolver used when no nameserver is configured
// (default net.DefaultResolver).
func WithNetResolver(r *net.Resolver) Option {
	return optionFunc(func(o *options) { o.netResolver = r })
}
