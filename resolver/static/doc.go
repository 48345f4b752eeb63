// Package static is the resolver for a fixed list of endpoints
// (`resolver::static::hostnames`). Start publishes the normalised list once
// (one successful resolution, one backend update) and starts no goroutine;
// the set never changes afterwards.
package static
