// Package valuekey writes attribute values into byte keys that identify
// them exactly: every value carries its type and every variable-length
// part its length, so int 200 and string "200" differ, "a|b"+"c" differs
// from "a"+"b|c", and no value is a prefix of another's encoding.
//
// The load-balancing exporter hashes such keys onto the ring, which makes
// the encoding a routing contract between agents (golden vectors pin it);
// the spanmetrics connector keys its series with it. Appending never
// allocates beyond growing dst, composite values included.
package valuekey
