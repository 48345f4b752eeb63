package handoff

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// Replication travels on its own unary method of the handoff listener,
// with a codec that hands the bytes over untouched: shadows are kept in
// their OTLP encoding (about a third of the memory pdata takes, and no
// per-attribute allocation on the successor), so neither side builds
// pdata for them unless a shadow is promoted.
const (
	replicaMethod = "/tailgate.handoff.v1.Replica/Push"
	replicaCodec  = "tailgate-replica"
)

func init() { encoding.RegisterCodecV2(rawCodec{}) }

// rawCodec marshals *wireMsg (request pieces, no copy) and unmarshals
// into *[]byte (one copy, which the receiver keeps).
type rawCodec struct{}

func (rawCodec) Name() string { return replicaCodec }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *wireMsg:
		out := make(mem.BufferSlice, 0, len(m.pieces))
		for _, p := range m.pieces {
			if len(p) > 0 {
				out = append(out, mem.SliceBuffer(p))
			}
		}
		return out, nil
	case *[]byte:
		return mem.BufferSlice{mem.SliceBuffer(*m)}, nil
	}
	return nil, fmt.Errorf("replica codec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("replica codec: cannot unmarshal into %T", v)
	}
	*b = data.Materialize()
	return nil
}

// wireMsg is an encoded message as the pieces it was built from.
type wireMsg struct{ pieces [][]byte }

// Fields of the replica request (a protobuf message, encoded by hand):
//
//	1 from         string   the sender's ring endpoint
//	2 incarnation  fixed64  the sender's process incarnation
//	3 shadow       Group    spans for the receiver to hold as shadows (owner → successor)
//	4 sampled      bytes    16-byte trace IDs the owner decided to keep
//	5 not_sampled  bytes    16-byte trace IDs the owner decided to drop
//	7 bye          bool     the sender leaves gracefully: what it kept is exported
//	8 ask          bytes    16-byte trace IDs whose state the sender wants (successor → owner)
//
// Group: 1 first_seen_unix_nano int64 (0: the receiver's now), 2 traces
// bytes (OTLP TracesData), 3 trace_ids bytes (the 16-byte trace ID of
// every span, in order: pdata writes a span's trace ID last, so reading
// it from the span would parse every attribute). The response:
//
//	1 incarnation  fixed64  the receiver's
//	2 pending      bytes    asked trace IDs still undecided there
//	3 sampled      bytes    asked trace IDs decided kept
//	4 not_sampled  bytes    asked trace IDs decided dropped
//
// An asked ID in none of them is unknown to the receiver.
const (
	fFrom        = 1
	fIncarnation = 2
	fShadow      = 3
	fSampled     = 4
	fNotSampled  = 5
	fBye         = 7
	fAsk         = 8

	fRespIncarnation = 1
	fRespPending     = 2
	fRespSampled     = 3
	fRespNotSampled  = 4

	fGroupFirstSeen = 1
	fGroupTraces    = 2
	fGroupTraceIDs  = 3
)

// wireGroup is span data with the first-seen time of its traces (0: now).
type wireGroup struct {
	firstSeen int64
	traces    []byte // OTLP TracesData
	ids       []byte // trace ID of every span, 16 bytes each, in order (may be absent)
}

// request is a decoded replica request. Its byte slices alias the
// received buffer.
type request struct {
	from        string
	incarnation uint64
	shadow      []wireGroup
	sampled     []pcommon.TraceID
	notSampled  []pcommon.TraceID
	bye         bool
	ask         []pcommon.TraceID
}

// response is a decoded replica response.
type response struct {
	incarnation                  uint64
	pending, sampled, notSampled []pcommon.TraceID
}

var errMalformed = errors.New("malformed replica message")

// errIDsShort: a group's trace IDs are fewer than its spans; the spans are
// read instead.
var errIDsShort = errors.New("replica trace IDs do not match the spans")

// encodeRequest encodes r; wireGroup payloads are referenced, not copied.
func encodeRequest(r *request) *wireMsg {
	hdr := protowire.AppendTag(nil, fFrom, protowire.BytesType)
	hdr = protowire.AppendString(hdr, r.from)
	hdr = protowire.AppendTag(hdr, fIncarnation, protowire.Fixed64Type)
	hdr = protowire.AppendFixed64(hdr, r.incarnation)
	if r.bye {
		hdr = protowire.AppendTag(hdr, fBye, protowire.VarintType)
		hdr = protowire.AppendVarint(hdr, 1)
	}
	hdr = appendIDs(hdr, fSampled, r.sampled)
	hdr = appendIDs(hdr, fNotSampled, r.notSampled)
	hdr = appendIDs(hdr, fAsk, r.ask)
	m := &wireMsg{pieces: [][]byte{hdr}}
	for _, g := range r.shadow {
		var inner []byte
		if g.firstSeen != 0 {
			inner = protowire.AppendTag(inner, fGroupFirstSeen, protowire.VarintType)
			inner = protowire.AppendVarint(inner, uint64(g.firstSeen))
		}
		if len(g.ids) > 0 {
			inner = protowire.AppendTag(inner, fGroupTraceIDs, protowire.BytesType)
			inner = protowire.AppendBytes(inner, g.ids)
		}
		inner = protowire.AppendTag(inner, fGroupTraces, protowire.BytesType)
		inner = protowire.AppendVarint(inner, uint64(len(g.traces)))
		head := protowire.AppendTag(nil, fShadow, protowire.BytesType)
		head = protowire.AppendVarint(head, uint64(len(inner)+len(g.traces)))
		m.pieces = append(m.pieces, append(head, inner...), g.traces)
	}
	return m
}

func appendIDs(b []byte, num protowire.Number, ids []pcommon.TraceID) []byte {
	if len(ids) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(16*len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// decodeRequest parses b; unknown fields are skipped. It never panics.
func decodeRequest(b []byte) (request, error) {
	var r request
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, errMalformed
		}
		b = b[n:]
		switch {
		case num == fFrom && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, errMalformed
			}
			r.from, b = string(v), b[n:]
		case num == fIncarnation && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return r, errMalformed
			}
			r.incarnation, b = v, b[n:]
		case num == fBye && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, errMalformed
			}
			r.bye, b = v != 0, b[n:]
		case (num == fSampled || num == fNotSampled || num == fAsk) && typ == protowire.BytesType:
			ids := &r.sampled
			switch num {
			case fNotSampled:
				ids = &r.notSampled
			case fAsk:
				ids = &r.ask
			}
			n := consumeIDs(b, ids)
			if n < 0 {
				return r, errMalformed
			}
			b = b[n:]
		case num == fShadow && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, errMalformed
			}
			b = b[n:]
			g, err := decodeGroup(v)
			if err != nil {
				return r, err
			}
			r.shadow = append(r.shadow, g)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, errMalformed
			}
			b = b[n:]
		}
	}
	return r, nil
}

func decodeGroup(b []byte) (wireGroup, error) {
	var g wireGroup
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return g, errMalformed
		}
		b = b[n:]
		switch {
		case num == fGroupFirstSeen && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return g, errMalformed
			}
			g.firstSeen, b = int64(v), b[n:]
		case num == fGroupTraces && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return g, errMalformed
			}
			g.traces, b = v, b[n:]
		case num == fGroupTraceIDs && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || len(v)%16 != 0 {
				return g, errMalformed
			}
			g.ids, b = v, b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return g, errMalformed
			}
			b = b[n:]
		}
	}
	return g, nil
}

// consumeIDs parses the value of a field of 16-byte trace IDs at the start
// of b, appending them to *ids. It returns the bytes consumed, or a
// negative number when the value is malformed (then *ids is unchanged).
func consumeIDs(b []byte, ids *[]pcommon.TraceID) int {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 || len(v)%16 != 0 {
		return -1
	}
	for ; len(v) >= 16; v = v[16:] {
		*ids = append(*ids, pcommon.TraceID(v[:16]))
	}
	return n
}

func encodeResponse(r *response) []byte {
	b := protowire.AppendTag(nil, fRespIncarnation, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, r.incarnation)
	b = appendIDs(b, fRespPending, r.pending)
	b = appendIDs(b, fRespSampled, r.sampled)
	return appendIDs(b, fRespNotSampled, r.notSampled)
}

// decodeResponse parses b; what it cannot parse is left out.
func decodeResponse(b []byte) response {
	var r response
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r
		}
		b = b[n:]
		switch {
		case num == fRespIncarnation && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return r
			}
			r.incarnation, b = v, b[n:]
		case num >= fRespPending && num <= fRespNotSampled && typ == protowire.BytesType:
			ids := &r.pending
			switch num {
			case fRespSampled:
				ids = &r.sampled
			case fRespNotSampled:
				ids = &r.notSampled
			}
			n := consumeIDs(b, ids)
			if n < 0 {
				return r
			}
			b = b[n:]
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r
			}
			b = b[n:]
		}
	}
	return r
}

// OTLP field numbers used by the scanner (opentelemetry.proto.trace.v1).
const (
	otlpResourceSpans = 1 // TracesData
	otlpScopeSpans    = 2 // ResourceSpans
	otlpSpans         = 2 // ScopeSpans
	otlpTraceID       = 1 // Span
	otlpSpanID        = 2 // Span
)

// layout indexes the spans of OTLP TracesData bytes without decoding
// them: for every span its trace ID and where its field is, for every
// ResourceSpans and ScopeSpans the fields other than their children
// (resource, scope, schema URL), copied into hdr.
type layout struct {
	hdr   []byte
	rss   []span32 // header range in hdr, per ResourceSpans
	sss   []scope32
	spans []spanLoc
	ids   []byte // trace IDs still to assign (scan's ids), nil: read them from the spans
}

type span32 struct{ off, end uint32 }

type scope32 struct {
	rs  int32
	hdr span32
}

type spanLoc struct {
	id  pcommon.TraceID
	ss  int32
	loc span32 // the whole field (tag, length, body) in the scanned bytes
}

func (l *layout) reset() {
	l.hdr, l.rss, l.sss, l.spans = l.hdr[:0], l.rss[:0], l.sss[:0], l.spans[:0]
}

// nextID takes the next trace ID of scan's ids; false when none is left.
func (l *layout) nextID() (pcommon.TraceID, bool) {
	if len(l.ids) < 16 {
		return pcommon.TraceID{}, false
	}
	id := pcommon.TraceID(l.ids[:16])
	l.ids = l.ids[16:]
	return id, true
}

// scan indexes b (OTLP TracesData). ids, when not empty, holds every
// span's trace ID in order (16 bytes each), so span bodies are not parsed;
// if it does not match the spans, they are. Spans whose trace ID is not
// 16 bytes are counted in bad and left out. b must stay unchanged while l
// is used.
func (l *layout) scan(b, ids []byte) (bad int, err error) {
	if len(ids) > 0 {
		l.ids = ids
		bad, err = l.scanAll(b)
		if err == nil && len(l.ids) == 0 {
			return bad, nil
		}
		// The IDs do not describe b: read the spans.
	}
	l.ids = nil
	return l.scanAll(b)
}

func (l *layout) scanAll(b []byte) (bad int, err error) {
	l.reset()
	if len(b) > 1<<31 {
		return 0, errMalformed
	}
	pos := 0
	for pos < len(b) {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return bad, errMalformed
		}
		pos += n
		if num != otlpResourceSpans || typ != protowire.BytesType {
			n := protowire.ConsumeFieldValue(num, typ, b[pos:])
			if n < 0 {
				return bad, errMalformed
			}
			pos += n
			continue
		}
		v, n := protowire.ConsumeBytes(b[pos:])
		if n < 0 {
			return bad, errMalformed
		}
		start := pos + n - len(v)
		pos += n
		nb, err := l.scanResource(b, start, start+len(v))
		bad += nb
		if err != nil {
			return bad, err
		}
	}
	return bad, nil
}

func (l *layout) scanResource(b []byte, pos, end int) (bad int, err error) {
	rs := int32(len(l.rss))
	hdrStart := uint32(len(l.hdr))
	type child struct{ off, end int }
	var scopes [8]child
	children := scopes[:0]
	for pos < end {
		fieldStart := pos
		num, typ, n := protowire.ConsumeTag(b[pos:end])
		if n < 0 {
			return bad, errMalformed
		}
		pos += n
		if num == otlpScopeSpans && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b[pos:end])
			if n < 0 {
				return bad, errMalformed
			}
			children = append(children, child{pos + n - len(v), pos + n})
			pos += n
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b[pos:end])
		if n < 0 {
			return bad, errMalformed
		}
		pos += n
		l.hdr = append(l.hdr, b[fieldStart:pos]...)
	}
	l.rss = append(l.rss, span32{hdrStart, uint32(len(l.hdr))})
	for _, c := range children {
		nb, err := l.scanScope(b, rs, c.off, c.end)
		bad += nb
		if err != nil {
			return bad, err
		}
	}
	return bad, nil
}

func (l *layout) scanScope(b []byte, rs int32, pos, end int) (bad int, err error) {
	ss := int32(len(l.sss))
	hdrStart := uint32(len(l.hdr))
	for pos < end {
		fieldStart := pos
		num, typ, n := protowire.ConsumeTag(b[pos:end])
		if n < 0 {
			return bad, errMalformed
		}
		pos += n
		if num == otlpSpans && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b[pos:end])
			if n < 0 {
				return bad, errMalformed
			}
			body := v
			pos += n
			if l.ids != nil {
				if id, ok := l.nextID(); ok {
					l.spans = append(l.spans, spanLoc{id: id, ss: ss, loc: span32{uint32(fieldStart), uint32(pos)}})
					continue
				}
				return bad, errIDsShort
			}
			id, ok := fieldBytes(body, otlpTraceID)
			if !ok || len(id) != 16 {
				bad++
				continue
			}
			l.spans = append(l.spans, spanLoc{id: pcommon.TraceID(id), ss: ss, loc: span32{uint32(fieldStart), uint32(pos)}})
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b[pos:end])
		if n < 0 {
			return bad, errMalformed
		}
		pos += n
		l.hdr = append(l.hdr, b[fieldStart:pos]...)
	}
	l.sss = append(l.sss, scope32{rs: rs, hdr: span32{hdrStart, uint32(len(l.hdr))}})
	return bad, nil
}

// fieldBytes returns the first length-delimited field num of message b.
// pdata writes a span's fields last to first: finding trace_id or span_id
// reads the whole span.
func fieldBytes(b []byte, want protowire.Number) ([]byte, bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num == want && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			return v, true
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
	}
	return nil, false
}

// spanID reads the span ID of an encoded span field (tag, length, body).
func spanID(field []byte) (pcommon.SpanID, bool) {
	_, _, n := protowire.ConsumeTag(field)
	if n < 0 {
		return pcommon.SpanID{}, false
	}
	body, m := protowire.ConsumeBytes(field[n:])
	if m < 0 {
		return pcommon.SpanID{}, false
	}
	id, ok := fieldBytes(body, otlpSpanID)
	if !ok || len(id) != 8 {
		return pcommon.SpanID{}, false
	}
	return pcommon.SpanID(id), true
}

// spanRef is one span of an encoded message: which scope (of which
// resource) it belongs to and its field bytes.
type spanRef struct {
	m   *encoded
	ss  int32
	loc span32
}

// encoded is OTLP bytes kept with their layout's headers.
type encoded struct {
	buf []byte
	hdr []byte
	rss []span32
	sss []scope32
}

func (r spanRef) field() []byte { return r.m.buf[r.loc.off:r.loc.end] }

// writer builds OTLP TracesData from span references, grouping
// consecutive spans of the same scope (and resource) under one copy of
// their headers. Spans are written in the order given. With a limit, the
// output is cut into chunks of about that many bytes (at span boundaries;
// a chunk repeats the headers of the spans it continues).
type writer struct {
	limit    int
	maxSpans int // with addID, a chunk has at most this many spans (0: any)
	chunks   []chunk
	out      []byte
	ids      []byte // the trace IDs of out's spans, when given to addID
	curRS    struct {
		m  *encoded
		rs int32
		at int // offset of the ResourceSpans body length placeholder
	}
	curSS struct {
		m  *encoded
		ss int32
		at int
	}
}

// lenPlaceholder reserves room for a length varint that is back-filled;
// 5 bytes hold any length below 2^35, and the fill pads with
// continuation bits, which protobuf decoders accept.
const lenPlaceholder = 5

func (w *writer) add(r spanRef) {
	if w.limit > 0 && len(w.out) >= w.limit {
		w.cut()
	}
	sc := r.m.sss[r.ss]
	if w.curSS.m != r.m || w.curSS.ss != r.ss {
		w.closeScope()
		if w.curRS.m != r.m || w.curRS.rs != sc.rs {
			w.closeResource()
			w.out = protowire.AppendTag(w.out, otlpResourceSpans, protowire.BytesType)
			w.curRS.m, w.curRS.rs, w.curRS.at = r.m, sc.rs, len(w.out)
			w.out = append(w.out, make([]byte, lenPlaceholder)...)
			h := r.m.rss[sc.rs]
			w.out = append(w.out, r.m.hdr[h.off:h.end]...)
		}
		w.out = protowire.AppendTag(w.out, otlpScopeSpans, protowire.BytesType)
		w.curSS.m, w.curSS.ss, w.curSS.at = r.m, r.ss, len(w.out)
		w.out = append(w.out, make([]byte, lenPlaceholder)...)
		w.out = append(w.out, r.m.hdr[sc.hdr.off:sc.hdr.end]...)
	}
	w.out = append(w.out, r.field()...)
}

func (w *writer) closeScope() {
	if w.curSS.m != nil {
		fillLen(w.out, w.curSS.at)
		w.curSS.m = nil
	}
}

func (w *writer) closeResource() {
	if w.curRS.m != nil {
		fillLen(w.out, w.curRS.at)
		w.curRS.m = nil
	}
}

// chunk is OTLP TracesData and the trace IDs of its spans.
type chunk struct{ traces, ids []byte }

// addID is add for a span whose trace ID travels with the chunk.
func (w *writer) addID(r spanRef, id pcommon.TraceID) {
	if w.limit > 0 && len(w.out) >= w.limit || w.maxSpans > 0 && len(w.ids) >= 16*w.maxSpans {
		w.cut()
	}
	w.add(r)
	w.ids = append(w.ids, id[:]...)
}

// cut closes the current chunk.
func (w *writer) cut() {
	w.closeScope()
	w.closeResource()
	if len(w.out) > 0 {
		w.chunks = append(w.chunks, chunk{traces: w.out, ids: w.ids})
	}
	w.out, w.ids = nil, nil
}

// finish closes the open messages and returns the bytes written.
func (w *writer) finish() []byte {
	w.closeScope()
	w.closeResource()
	out := w.out
	*w = writer{}
	return out
}

// finishChunks is finish for a writer with a limit.
func (w *writer) finishChunks() []chunk {
	w.cut()
	out := w.chunks
	*w = writer{}
	return out
}

// fillLen writes the length of what follows the placeholder at into it,
// as a 5-byte varint.
func fillLen(b []byte, at int) {
	n := uint64(len(b) - at - lenPlaceholder)
	for i := 0; i < lenPlaceholder-1; i++ {
		b[at+i] = byte(n&0x7f) | 0x80
		n >>= 7
	}
	b[at+lenPlaceholder-1] = byte(n)
}

// shardOfID spreads trace IDs over n shards.
func shardOfID(id pcommon.TraceID, n int) int {
	return int(binary.LittleEndian.Uint32(id[12:]) % uint32(n))
}
