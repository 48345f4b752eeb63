// Package all builds whichever resolver a Config selects. It links every
// mechanism, client-go included; programs that need only static or DNS
// discovery should import those packages directly.
//
// Concurrency, ordering and failure behaviour are those of the resolver
// package: see its documentation.
package all
