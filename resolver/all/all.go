package all

import (
	"fmt"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/dns"
	"github.com/tailgate-otel/tailgate/resolver/k8s"
	"github.com/tailgate-otel/tailgate/resolver/static"
)

// New validates cfg and builds the resolver of the one mechanism it sets,
// with that mechanism's default options (system DNS, in-cluster client).
// l may be nil. A FromCode block names no mechanism, so it is refused: its
// component builds the resolver with the Factory it was given.
func New(cfg resolver.Config, set resolver.Settings, l resolver.Listener) (resolver.Resolver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.IsFromCode():
		return nil, fmt.Errorf("%w: the endpoints come from code, not from this block (use the component's resolver.Factory)", resolver.ErrInvalidConfig)
	case cfg.Static != nil:
		return static.New(*cfg.Static, set, l)
	case cfg.DNS != nil:
		return dns.New(*cfg.DNS, set, l)
	default:
		return k8s.New(*cfg.K8s, set, l)
	}
}
