package spanmetrics

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/internal/valuekey"
)

// entry is one attribute a new series will carry: either a fixed string
// (span.kind and friends) or a value read from the input, copied on creation.
type entry struct {
	name  string
	str   string
	val   pcommon.Value
	isStr bool
	// trunc > 0: val is a bytes value of which only the first trunc
	// bytes are kept.
	trunc int
}

// scratch is per-call working memory, pooled so steady-state aggregation
// does not allocate.
type scratch struct {
	key      []byte
	entries  []entry
	globKeys []string
	rng      rng
	// withEntries says whether encoding also fills entries (on a miss).
	withEntries bool
	adjusted    bool
	// over: a dimension value of the key being encoded is a slice or map
	// over the value length limit; the span goes to the overflow series.
	over bool
	// Values over the limit in this call, counted once per span (on the
	// encoding without entries), reported at its end.
	truncated, tooLarge, keysTooLong int64
}

func (sc *scratch) addStr(name, v string) {
	if sc.withEntries {
		sc.entries = append(sc.entries, entry{name: name, str: v, isStr: true})
	}
}

func (sc *scratch) addVal(name string, v pcommon.Value) {
	if sc.withEntries {
		sc.entries = append(sc.entries, entry{name: name, val: v})
	}
}

type resCtx struct {
	res    *resource
	attrs  pcommon.Map
	svc    pcommon.Value
	now    int64
	nowTs  pcommon.Timestamp
	scope  pcommon.InstrumentationScope
	scoped bool
}

var spanKindNames = [...]string{
	ptrace.SpanKindUnspecified: "SPAN_KIND_UNSPECIFIED",
	ptrace.SpanKindInternal:    "SPAN_KIND_INTERNAL",
	ptrace.SpanKindServer:      "SPAN_KIND_SERVER",
	ptrace.SpanKindClient:      "SPAN_KIND_CLIENT",
	ptrace.SpanKindProducer:    "SPAN_KIND_PRODUCER",
	ptrace.SpanKindConsumer:    "SPAN_KIND_CONSUMER",
}

var statusCodeNames = [...]string{
	ptrace.StatusCodeUnset: "STATUS_CODE_UNSET",
	ptrace.StatusCodeOk:    "STATUS_CODE_OK",
	ptrace.StatusCodeError: "STATUS_CODE_ERROR",
}

// ConsumeTraces aggregates spans. It reads its input and keeps nothing of it
// by reference: keys are hashed from attribute values in place, and only a
// new series copies the values it needs.
func (c *spanConnector) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	if c.shutdown.Load() {
		return ErrShutdown
	}
	now := c.now()
	sc := c.scratch.Get().(*scratch)
	defer c.scratch.Put(sc)
	defer c.reportLimited(sc)
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		svc, ok := attrs.Get(serviceNameKey)
		if !ok {
			if n := countSpans(rs); n > 0 {
				c.tel.spansDropped.Add(context.Background(), int64(n), c.tel.dropNoService)
				c.warn.WarnAt(now, "spans without resource attribute service.name are not aggregated", zap.Int("spans", n))
			}
			continue
		}
		rc := resCtx{
			attrs: attrs,
			svc:   svc,
			now:   now.UnixNano(),
			nowTs: pcommon.NewTimestampFromTime(now),
		}
		rc.res = c.resourceFor(sc, attrs, rc.now)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			rc.scope = ss.Scope()
			rc.scoped = len(c.scopes) > 0 && slices.Contains(c.scopes, rc.scope.Name())
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				c.aggregateSpan(sc, &rc, spans.At(k))
			}
		}
	}
	return nil
}

func countSpans(rs ptrace.ResourceSpans) int {
	n := 0
	for j := 0; j < rs.ScopeSpans().Len(); j++ {
		n += rs.ScopeSpans().At(j).Spans().Len()
	}
	return n
}

func (c *spanConnector) aggregateSpan(sc *scratch, rc *resCtx, span ptrace.Span) {
	var durNanos uint64
	if st, en := span.StartTimestamp(), span.EndTimestamp(); en > st {
		durNanos = uint64(en - st)
	}
	value := float64(durNanos) / c.unitNanos

	n := uint64(1)
	w, adjusted := adjustedCount(span.TraceState().AsRaw())
	if adjusted {
		n = sc.rng.round(w)
	}

	sc.adjusted = adjusted
	if !c.splitKinds {
		c.encode(sc, rc, span, pcommon.Map{}, false, kindCombined, false)
		c.update(sc, rc, kindCombined, span, pcommon.Map{}, false, value, n)
	} else {
		c.encode(sc, rc, span, pcommon.Map{}, false, kindCalls, false)
		c.update(sc, rc, kindCalls, span, pcommon.Map{}, false, value, n)
		c.encode(sc, rc, span, pcommon.Map{}, false, kindDuration, false)
		c.update(sc, rc, kindDuration, span, pcommon.Map{}, false, value, n)
	}

	if len(c.eventDims) > 0 {
		events := span.Events()
		for e := 0; e < events.Len(); e++ {
			ea := events.At(e).Attributes()
			c.encode(sc, rc, span, ea, true, kindEvents, false)
			c.update(sc, rc, kindEvents, span, ea, true, value, n)
		}
	}
}

// encode writes the full key of the span's series of kind k into sc.key.
// With entries set it also lists the attributes a new series will carry;
// that is only done on a miss, keeping the hot path to hashing.
func (c *spanConnector) encode(sc *scratch, rc *resCtx, span ptrace.Span, event pcommon.Map, hasEvent bool, k kind, entries bool) {
	sc.withEntries = entries
	c.encodeBase(sc, rc, span, event, hasEvent, sc.adjusted)
	switch k {
	case kindCalls:
		c.appendDims(sc, rc, span, event, hasEvent, c.callsDims)
	case kindDuration:
		c.appendDims(sc, rc, span, event, hasEvent, c.histDims)
	case kindEvents:
		c.appendDims(sc, rc, span, event, hasEvent, c.eventDims)
	}
	sc.key[0] = byte(k)
}

// encodeBase writes the key prefix shared by every metric of the span:
// resource identity, default dimensions and `dimensions`. Attribute values
// are keyed by their string form (appendValueText), as upstream keys them,
// so int 500, string "500" and double 500.0 feed one series; a missing
// dimension and an empty one still never share a key.
func (c *spanConnector) encodeBase(sc *scratch, rc *resCtx, span ptrace.Span, event pcommon.Map, hasEvent, adjusted bool) {
	b := append(sc.key[:0], 0) // kind byte, set by update
	b = binary.LittleEndian.AppendUint64(b, rc.res.id)
	sc.entries = sc.entries[:0]
	sc.over = false
	if !c.exclService {
		b = c.appendDimValue(sc, b, serviceNameKey, rc.svc)
	}
	if !c.exclName {
		name := c.limitStr(sc, span.Name())
		b = valuekey.AppendString(b, name)
		sc.addStr(spanNameKey, name)
	}
	if !c.exclKind {
		k := span.Kind()
		if k < 0 || int(k) >= len(spanKindNames) {
			k = -1
		}
		b = append(b, byte(k))
		if sc.withEntries && k >= 0 {
			sc.addStr(spanKindKey, spanKindNames[k])
		} else if sc.withEntries {
			sc.addStr(spanKindKey, "")
		}
	}
	if !c.exclStatus {
		s := span.Status().Code()
		if s < 0 || int(s) >= len(statusCodeNames) {
			s = -1
		}
		b = append(b, byte(s))
		if sc.withEntries && s >= 0 {
			sc.addStr(statusCodeKey, statusCodeNames[s])
		} else if sc.withEntries {
			sc.addStr(statusCodeKey, "")
		}
	}
	if c.instanceID != "" {
		// The same for every series of this connector: no key bytes.
		sc.addStr(instanceKey, c.instanceID)
	}
	if rc.scoped {
		name, version := c.limitStr(sc, rc.scope.Name()), c.limitStr(sc, rc.scope.Version())
		b = valuekey.AppendString(b, name)
		b = valuekey.AppendString(b, version)
		sc.addStr(scopeNameKey, name)
		if version != "" { // as upstream: no empty version
			sc.addStr(scopeVersionKey, version)
		}
	}
	if c.cfg.EnableMetricsSamplingMethod {
		m := "counted"
		if adjusted {
			m = "extrapolated"
		}
		b = valuekey.AppendString(b, m)
		sc.addStr(samplingKey, m)
	}
	sc.key = b
	c.appendDims(sc, rc, span, event, hasEvent, c.dims)
	if len(c.globs) > 0 {
		c.appendGlobs(sc, rc, span, event, hasEvent)
	}
}

// lookup resolves a dimension: span attributes, then event attributes (for
// the events metric), then resource attributes, then the default.
func lookup(name string, span, event, res pcommon.Map, hasEvent bool) (pcommon.Value, bool) {
	if v, ok := span.Get(name); ok {
		return v, true
	}
	if hasEvent {
		if v, ok := event.Get(name); ok {
			return v, true
		}
	}
	return res.Get(name)
}

func (c *spanConnector) appendDims(sc *scratch, rc *resCtx, span ptrace.Span, event pcommon.Map, hasEvent bool, dims []dim) {
	b := sc.key
	sa := span.Attributes()
	for i := range dims {
		d := &dims[i]
		v, ok := lookup(d.name, sa, event, rc.attrs, hasEvent)
		if !ok && d.has {
			v, ok = d.def, true
		}
		if !ok {
			b = append(b, 0) // absent: the dimension is omitted
			continue
		}
		b = append(b, 1)
		b = c.appendDimValue(sc, b, d.name, v)
	}
	sc.key = b
}

// appendGlobs appends every attribute whose key matches a glob dimension
// (and is no named dimension), sorted by key. Keys are gathered from the
// span, event and resource attributes, then sorted and de-duplicated: the
// cost is O(k log k) in the matching keys, whatever their number.
func (c *spanConnector) appendGlobs(sc *scratch, rc *resCtx, span ptrace.Span, event pcommon.Map, hasEvent bool) {
	keys := sc.globKeys[:0]
	add := func(m pcommon.Map) {
		for k := range m.All() {
			if c.dimNames[k] {
				continue
			}
			if len(k) > c.valueLimit {
				if !sc.withEntries {
					sc.keysTooLong++
				}
				continue
			}
			if c.matchesGlob(k) {
				keys = append(keys, k)
			}
		}
	}
	add(span.Attributes())
	if hasEvent {
		add(event)
	}
	add(rc.attrs)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	b := binary.AppendUvarint(sc.key, uint64(len(keys)))
	for _, k := range keys {
		v, _ := lookup(k, span.Attributes(), event, rc.attrs, hasEvent)
		b = valuekey.AppendString(b, k)
		b = c.appendDimValue(sc, b, k, v)
	}
	sc.key = b
	sc.globKeys = keys
}

// limitStr truncates s to the value length limit, at a UTF-8 boundary.
func (c *spanConnector) limitStr(sc *scratch, s string) string {
	if len(s) <= c.valueLimit {
		return s
	}
	if !sc.withEntries {
		sc.truncated++
	}
	n := c.valueLimit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendDimValue appends v as a dimension value (its string form, see
// appendValueText) within the value length limit, and lists it under name
// for a new series: strings and bytes are truncated to the limit (bytes
// keyed by the base64 of what is kept, as their string form is); a slice
// or map whose string form is longer marks the key as over (the span goes
// to the overflow series).
func (c *spanConnector) appendDimValue(sc *scratch, b []byte, name string, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s := v.Str()
		if len(s) > c.valueLimit {
			s = c.limitStr(sc, s)
			sc.addStr(name, s)
		} else {
			sc.addVal(name, v)
		}
		return valuekey.AppendString(b, s)
	case pcommon.ValueTypeBytes:
		if n := c.valueLimit; v.Bytes().Len() > n {
			if sc.withEntries {
				sc.entries = append(sc.entries, entry{name: name, val: v, trunc: n})
			} else {
				sc.truncated++
			}
			return appendBase64(b, v.Bytes(), n)
		}
	case pcommon.ValueTypeSlice, pcommon.ValueTypeMap:
		start := len(b)
		b = appendValueText(b, v)
		if len(b)-start > c.valueLimit {
			if !sc.over && !sc.withEntries {
				sc.tooLarge++
			}
			sc.over = true
		}
		sc.addVal(name, v)
		return b
	}
	sc.addVal(name, v)
	return appendValueText(b, v)
}

// reportLimited counts and logs (rate-limited) the values a call limited.
func (c *spanConnector) reportLimited(sc *scratch) {
	if sc.truncated+sc.tooLarge+sc.keysTooLong == 0 {
		return
	}
	ctx := context.Background()
	if sc.truncated > 0 {
		c.tel.valuesLimited.Add(ctx, sc.truncated, c.tel.limTruncated)
	}
	if sc.tooLarge > 0 {
		c.tel.valuesLimited.Add(ctx, sc.tooLarge, c.tel.limTooLarge)
	}
	if sc.keysTooLong > 0 {
		c.tel.valuesLimited.Add(ctx, sc.keysTooLong, c.tel.limKeyTooLong)
	}
	c.warn.WarnAt(c.now(), "span attributes over dimension_value_length_limit: long strings and bytes truncated, long slices and maps aggregated into the overflow series, long keys ignored by glob dimensions",
		zap.Int("limit", c.valueLimit), zap.Int64("truncated", sc.truncated), zap.Int64("too_large", sc.tooLarge), zap.Int64("keys_too_long", sc.keysTooLong))
	sc.truncated, sc.tooLarge, sc.keysTooLong = 0, 0, 0
}

// update finds or creates the series for the key in sc and records the span.
func (c *spanConnector) update(sc *scratch, rc *resCtx, k kind, span ptrace.Span, event pcommon.Map, hasEvent bool, value float64, n uint64) {
	if sc.over {
		c.updateOverflow(rc, k, span, value, n)
		return
	}
	h := xxhash.Sum64(sc.key)
	sh := &c.shards[h&(numShards-1)]
	sh.mu.Lock()
	s := sh.find(h, sc.key)
	if s == nil {
		c.encode(sc, rc, span, event, hasEvent, k, true)
		s = c.newSeries(sc, rc, k, h)
		if s == nil {
			sh.mu.Unlock()
			c.updateOverflow(rc, k, span, value, n)
			return
		}
		sh.insert(s)
	}
	c.record(s, rc, span, value, n)
	sh.mu.Unlock()
}

func (c *spanConnector) record(s *series, rc *resCtx, span ptrace.Span, value float64, n uint64) {
	s.count += n
	s.lastSeen = rc.now
	s.dirty = true
	if s.kind.hasDuration() && !c.histOff {
		s.sum += value * float64(n)
		if s.expo != nil {
			s.expo.observe(value, n, c.expoMax)
		} else {
			s.buckets[bucketIndex(c.bounds, value)] += n
		}
	}
	if len(s.ex) < cap(s.ex) {
		if tid := span.TraceID(); !tid.IsEmpty() {
			s.ex = append(s.ex, exemplar{traceID: tid, spanID: span.SpanID(), value: value, ts: span.EndTimestamp()})
		}
	}
}

// bucketIndex returns the first bucket whose upper bound is >= v (bounds
// are upper-inclusive, as in OTLP).
func bucketIndex(bounds []float64, v float64) int {
	if len(bounds) <= 16 {
		for i, b := range bounds {
			if v <= b {
				return i
			}
		}
		return len(bounds)
	}
	lo, hi := 0, len(bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bounds[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// newSeries creates a series from the key and entries in sc, or returns nil
// when the resource already holds its limit of series of that kind.
func (c *spanConnector) newSeries(sc *scratch, rc *resCtx, k kind, h uint64) *series {
	if rc.res.nSeries[k].Add(1) > c.seriesLimit {
		rc.res.nSeries[k].Add(-1)
		return nil
	}
	s := &series{
		key:   slices.Clone(sc.key),
		hash:  h,
		res:   rc.res,
		seq:   c.seq.Add(1),
		kind:  k,
		attrs: pcommon.NewMap(),
		start: rc.nowTs,
	}
	s.attrs.EnsureCapacity(len(sc.entries))
	for _, e := range sc.entries {
		switch {
		case e.isStr:
			s.attrs.PutStr(e.name, e.str)
		case e.trunc > 0:
			s.attrs.PutEmptyBytes(e.name).FromRaw(e.val.Bytes().AsRaw()[:e.trunc])
		default:
			e.val.CopyTo(s.attrs.PutEmpty(e.name))
		}
	}
	c.initSeries(s)
	return s
}

func (c *spanConnector) initSeries(s *series) {
	if s.kind.hasDuration() && !c.histOff {
		if c.expo {
			s.expo = newExpoHist()
		} else {
			s.buckets = make([]uint64, len(c.bounds)+1)
		}
	}
	if c.exemplars > 0 {
		s.ex = make([]exemplar, 0, c.exemplars)
	}
}

func (c *spanConnector) updateOverflow(rc *resCtx, k kind, span ptrace.Span, value float64, n uint64) {
	var kb [10]byte
	key := append(kb[:0], byte(k)|0x80)
	key = binary.LittleEndian.AppendUint64(key, rc.res.id)
	h := xxhash.Sum64(key)
	sh := &c.shards[h&(numShards-1)]
	sh.mu.Lock()
	s := sh.find(h, key)
	if s == nil {
		s = &series{key: slices.Clone(key), hash: h, res: rc.res, seq: c.seq.Add(1), kind: k, attrs: pcommon.NewMap(), start: rc.nowTs}
		s.attrs.PutBool(overflowKey, true)
		c.initSeries(s)
		rc.res.nSeries[k].Add(1)
		sh.insert(s)
	}
	c.record(s, rc, span, value, n)
	sh.mu.Unlock()
	c.tel.spansOverflowed.Add(context.Background(), 1)
}

// resourceFor returns the resource entry for attrs, creating it (with a
// copy of attrs) when first seen and evicting the least recently seen one
// beyond resource_metrics_cache_size.
func (c *spanConnector) resourceFor(sc *scratch, attrs pcommon.Map, now int64) *resource {
	b := sc.key[:0]
	if len(c.keyAttrs) > 0 {
		for _, k := range c.keyAttrs {
			if v, ok := attrs.Get(k); ok {
				b = append(b, 1)
				b = valuekey.AppendValue(b, v)
			} else {
				b = append(b, 0)
			}
		}
	} else {
		keys := sc.globKeys[:0]
		for k := range attrs.All() {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v, _ := attrs.Get(k)
			b = valuekey.AppendString(b, k)
			b = valuekey.AppendValue(b, v)
		}
		sc.globKeys = keys
	}
	sc.key = b
	h := xxhash.Sum64(b)

	c.resMu.RLock()
	r := c.findResource(h, b)
	if r != nil {
		r.lastSeen.Store(now)
	}
	c.resMu.RUnlock()
	if r != nil {
		return r
	}

	c.resMu.Lock()
	defer c.resMu.Unlock()
	if r = c.findResource(h, b); r != nil {
		r.lastSeen.Store(now)
		return r
	}
	if c.nRes >= c.resCacheSize {
		c.evictOldestLocked()
	}
	r = &resource{key: slices.Clone(b), hash: h, id: c.seq.Add(1), attrs: pcommon.NewMap()}
	attrs.CopyTo(r.attrs)
	r.lastSeen.Store(now)
	r.next = c.resources[h]
	c.resources[h] = r
	c.nRes++
	return r
}

func (c *spanConnector) findResource(h uint64, key []byte) *resource {
	for r := c.resources[h]; r != nil; r = r.next {
		if string(r.key) == string(key) {
			return r
		}
	}
	return nil
}

func (c *spanConnector) removeResourceLocked(r *resource) {
	head := c.resources[r.hash]
	if head == r {
		if r.next == nil {
			delete(c.resources, r.hash)
		} else {
			c.resources[r.hash] = r.next
		}
	} else {
		for p := head; p != nil; p = p.next {
			if p.next == r {
				p.next = r.next
				break
			}
		}
	}
	r.next = nil
	c.nRes--
}

func (c *spanConnector) evictOldestLocked() {
	var oldest *resource
	for _, head := range c.resources {
		for r := head; r != nil; r = r.next {
			if oldest == nil || r.lastSeen.Load() < oldest.lastSeen.Load() {
				oldest = r
			}
		}
	}
	if oldest == nil {
		return
	}
	c.removeResourceLocked(oldest)
	oldest.evicted.Store(true)
	c.tel.resourcesRemoved.Add(context.Background(), 1, reason("evicted"))
}

// appendValueText appends v's string form (pcommon.Value.AsString),
// length-prefixed. Values with the same string form share a series, as
// upstream keys series by AsString: they become one label set in
// Prometheus anyway, and keeping them apart made one of them silently win
// there. The series carries the value of the span that created it.
// Strings, ints, bools and doubles in fixed notation are formatted in
// place, with no allocation; other values go through AsString.
func appendValueText(dst []byte, v pcommon.Value) []byte {
	var tmp [40]byte
	var text []byte
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return valuekey.AppendString(dst, v.Str())
	case pcommon.ValueTypeEmpty:
		return valuekey.AppendString(dst, "")
	case pcommon.ValueTypeInt:
		text = strconv.AppendInt(tmp[:0], v.Int(), 10)
	case pcommon.ValueTypeBool:
		text = strconv.AppendBool(tmp[:0], v.Bool())
	case pcommon.ValueTypeDouble:
		// AsString writes doubles in fixed notation unless they are
		// non-finite, below 1e-6 or at least 1e21 in magnitude.
		f := v.Double()
		if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
			text = strconv.AppendFloat(tmp[:0], f, 'f', -1, 64)
			break
		}
		return valuekey.AppendString(dst, v.AsString())
	case pcommon.ValueTypeBytes:
		return appendBase64(dst, v.Bytes(), v.Bytes().Len())
	default:
		return valuekey.AppendString(dst, v.AsString())
	}
	dst = binary.AppendUvarint(dst, uint64(len(text)))
	return append(dst, text...)
}

// appendBase64 appends the first n bytes of bs as valuekey.AppendString
// would append their base64 (the string form of a bytes value), without
// allocating: ByteSlice.AsRaw copies and AsString builds a string.
func appendBase64(dst []byte, bs pcommon.ByteSlice, n int) []byte {
	dst = binary.AppendUvarint(dst, uint64(base64.StdEncoding.EncodedLen(n)))
	// A multiple of 3 bytes encodes without padding, so encoding chunk
	// by chunk gives the encoding of the whole.
	var chunk [48]byte
	for i := 0; i < n; i += len(chunk) {
		m := min(n-i, len(chunk))
		for j := range m {
			chunk[j] = bs.At(i + j)
		}
		dst = base64.StdEncoding.AppendEncode(dst, chunk[:m])
	}
	return dst
}
