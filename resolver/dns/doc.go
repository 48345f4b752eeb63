// Package dns is the resolver that polls DNS (`resolver::dns`).
//
// Every interval it resolves one name, either through the system resolver
// or, when `nameserver` is set, by asking that one server directly
// (github.com/miekg/dns, UDP with a TCP retry on truncation). With
// record_type A (default) it asks for A and AAAA records and joins each
// address with `port` (IPv6 as "[ip]:port"); with record_type SRV each
// record gives "target:port".
//
// Failure behaviour: a lookup that times out, is refused, gets SERVFAIL or
// any other transport or server error keeps the last good set, counts
// otelcol_loadbalancer_num_resolutions{resolver="dns",success="false"} and
// is retried after an exponential backoff (250ms doubling, capped at the
// interval). Only an answer that says the name has no records (NXDOMAIN,
// or NOERROR without records, which the system resolver reports the same
// way) publishes an empty set. With a nameserver, both the A and the AAAA
// query must succeed: half an answer is not published.
//
// Concurrency: one goroutine polls; lookups never overlap; the listener is
// called from that goroutine (or from Start for the first attempt).
package dns
