// Package promtest runs Prometheus's own binaries in tests: promtool for
// rule unit tests, and a prometheus server scraping collectors on
// loopback, read back through its HTTP API.
//
// The binaries come from the Debian package `prometheus` (.ci/run installs
// it). A developer without them sees the tests skipped, unless RequireEnv
// is set, as CI sets it: then a missing binary fails the test, so CI never
// passes by skipping.
package promtest
