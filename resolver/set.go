package resolver

import (
	"net/netip"
	"slices"
)

// SortDedupe sorts endpoints and drops duplicates, in place. Resolvers
// publish sets in this form so that a listener can compare them cheaply and
// two agents that saw the same set in a different order route the same.
func SortDedupe(eps []string) []string {
	slices.Sort(eps)
	return slices.Compact(eps)
}

func parseAddr(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
