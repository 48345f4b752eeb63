package manual

import (
	"slices"
	"sync"

	"github.com/tailgate-otel/tailgate/resolver"
)

// Source is one endpoint set, owned by code, that feeds any number of
// resolvers: give Source.Resolver (a resolver.Factory) to every component
// that must see the same gateways (an agent's load_balancing exporter and
// a gateway's handoff, say), then call Set when the set changes. Each
// resolver built from it publishes the set to its own Listener with the
// guarantees of New.
type Source struct {
	mu      sync.Mutex
	current []string
	subs    map[*Resolver]struct{}
}

// NewSource returns a source whose set is initial until the first Set.
func NewSource(initial ...string) *Source {
	return &Source{current: slices.Clone(initial), subs: map[*Resolver]struct{}{}}
}

// Resolver builds a resolver that starts with the source's current set and
// follows every later Set until it is shut down. It has the signature of
// resolver.Factory.
func (s *Source) Resolver(set resolver.Settings, l resolver.Listener) (resolver.Resolver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := New(set, l, s.current...)
	if err != nil {
		return nil, err
	}
	r.src = s
	s.subs[r] = struct{}{}
	return r, nil
}

// Set replaces the endpoint set of every resolver built from s that is
// not shut down, and of those built later. The Listeners run on the
// caller, one after the other, and Sets are applied in the order they are
// called; a Listener must not call Set.
func (s *Source) Set(endpoints ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = slices.Clone(endpoints)
	for r := range s.subs {
		r.Set(endpoints...)
	}
}

// Endpoints returns a copy of the set given last.
func (s *Source) Endpoints() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.current)
}

// leave forgets r: called by its Shutdown, before it takes its own lock
// (Set takes the source's lock, then each resolver's).
func (s *Source) leave(r *Resolver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, r)
}

var _ resolver.Factory = (*Source)(nil).Resolver

// subscribers counts the resolvers still following s (tests).
func (s *Source) subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}
