package spanmetrics

import (
	"math"
	"strings"
)

// maxThreshold is 2^56: OpenTelemetry sampling thresholds are 56-bit.
const maxThreshold = 1 << 56

// adjustedCount reads the OpenTelemetry sampling threshold (`ot=th:…`) from a
// W3C tracestate and returns how many spans the sampled one stands for.
// ok is false when there is no valid threshold; the span then counts as 1.
// It never allocates: tracestate strings are scanned in place.
func adjustedCount(tracestate string) (count float64, ok bool) {
	if tracestate == "" {
		return 1, false
	}
	ot, found := otMember(tracestate)
	if !found {
		return 1, false
	}
	for ot != "" {
		var field string
		if i := strings.IndexByte(ot, ';'); i >= 0 {
			field, ot = ot[:i], ot[i+1:]
		} else {
			field, ot = ot, ""
		}
		if len(field) < 3 || field[:3] != "th:" {
			continue
		}
		t, valid := parseThreshold(field[3:])
		if !valid {
			return 1, false
		}
		return maxThreshold / float64(maxThreshold-t), true
	}
	return 1, false
}

// otMember returns the value of the `ot` list member of a tracestate.
func otMember(ts string) (string, bool) {
	for ts != "" {
		var member string
		if i := strings.IndexByte(ts, ','); i >= 0 {
			member, ts = ts[:i], ts[i+1:]
		} else {
			member, ts = ts, ""
		}
		member = strings.Trim(member, " \t")
		if len(member) >= 3 && member[:3] == "ot=" {
			return member[3:], true
		}
	}
	return "", false
}

// parseThreshold decodes 1 to 14 lowercase hex digits; omitted trailing
// digits are zeros, so "8" is half of the 56-bit range.
func parseThreshold(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 14 {
		return 0, false
	}
	var t uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		default:
			return 0, false
		}
		t = t<<4 | d
	}
	return t << (4 * (14 - uint(len(s)))), true
}

// rng is xorshift64*: a tiny generator for stochastic rounding, one per
// scratch so concurrent callers never share state.
type rng uint64

func (r *rng) next() uint64 {
	x := *r
	x ^= x << 12
	x ^= x >> 25
	x ^= x << 27
	*r = x
	return uint64(x) * 0x2545F4914F6CDD1D
}

// round turns a fractional adjusted count into an integer whose expected
// value is the count, so integer sums stay unbiased (as upstream does).
func (r *rng) round(w float64) uint64 {
	floor, frac := math.Modf(w)
	n := uint64(floor)
	if frac > 0 && float64(r.next()>>11)/(1<<53) < frac {
		n++
	}
	return n
}
