// Package manual is a resolver whose endpoint set is whatever its owner
// says it is.
//
// It is for programs that already know their gateways by other means (a
// service registry of their own, a control plane, a test) and want the
// same Listener contract and self-metrics as the other mechanisms: the
// full set, sorted and de-duplicated, delivered only when it changed and
// never concurrently. Set may be called from any goroutine; the Listener
// runs on the caller of Set (or of Start), so it must not call Set itself.
// There is no YAML block for it: it exists for code.
//
// A Source is one such set feeding any number of resolvers: its Resolver
// method is a resolver.Factory, the form in which components take a
// resolver from code (lbexporter.WithResolver for the agents' ring,
// tailsampler.WithHandoffResolver for the gateways' handoff), so one Set
// moves every ring of the program at once.
package manual
