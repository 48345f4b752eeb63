// Package loop holds what every resolver mechanism shares: the publisher
// that owns the last good endpoint set, its self-metrics and the listener
// calls; a start/stop state machine that owns the goroutines; the polling
// loop with exponential backoff; and a rate-limited logger.
//
// It is internal so that the mechanisms can share it without making it part
// of the resolver API.
package loop
