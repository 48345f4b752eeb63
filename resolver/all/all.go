package all

import (
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/dns"
	"github.com/tailgate-otel/tailgate/resolver/k8s"
	"github.com/tailgate-otel/tailgate/resolver/static"
)

// New validates cfg and builds the resolver of the one mechanism it sets,
// with that mechanism's default options (system DNS, in-cluster client).
// l may be nil.
func New(cfg resolver.Config, set resolver.Settings, l resolver.Listener) (resolver.Resolver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Static != nil:
		return static.New(*cfg.Static, set, l)
	case cfg.DNS != nil:
		return dns.New(*cfg.DNS, set, l)
	default:
		return k8s.New(*cfg.K8s, set, l)
	}
}
