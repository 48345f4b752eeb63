package tailsampler

import (
	"hash/maphash"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/xpdata/entity"
)

// Grouping by content. Spans kept in one decision round come from many
// input batches whose resources are mostly the same few services; copying
// each source batch's Resource and Scope into the outgoing batch cost
// several allocations per kept span on interleaved input. Sources with
// equal content share one outgoing ResourceSpans/ScopeSpans instead (an
// equivalent OTLP encoding of the same data).
//
// Equality is exact (hash, then full comparison). A resource carrying
// entity references is never merged: they are not covered by the
// comparison.

// maxScopeScan bounds the search for an equal scope within one outgoing
// resource, so a resource with very many scopes stays linear.
const maxScopeScan = 16

var groupSeed = maphash.MakeSeed()

type resourceGroup struct {
	rs   ptrace.ResourceSpans
	next int32 // next group with the same hash, -1 at the end
}

// resourceFor returns the outgoing ResourceSpans for src: an existing one
// with equal content, or a new copy.
func (o *outBuilder) resourceFor(src ptrace.ResourceSpans) ptrace.ResourceSpans {
	res := src.Resource()
	mergeable := entity.ResourceEntityRefs(res).Len() == 0
	var h uint64
	if mergeable {
		h = hashResource(src)
		if i, ok := o.rsByHash[h]; ok {
			for ; i >= 0; i = o.groups[i].next {
				if sameResource(o.groups[i].rs, src) {
					return o.groups[i].rs
				}
			}
		}
	}
	rs := o.td.ResourceSpans().AppendEmpty()
	res.CopyTo(rs.Resource())
	rs.SetSchemaUrl(src.SchemaUrl())
	if mergeable && len(o.groups) < math.MaxInt32 {
		head, ok := o.rsByHash[h]
		if !ok {
			head = -1
		}
		o.rsByHash[h] = int32(len(o.groups))
		o.groups = append(o.groups, resourceGroup{rs: rs, next: head})
	}
	return rs
}

// scopeFor returns the span list of dst's ScopeSpans equal to src, adding
// a copy of src's scope when none is.
func (o *outBuilder) scopeFor(dst ptrace.ResourceSpans, src ptrace.ScopeSpans) ptrace.SpanSlice {
	sss := dst.ScopeSpans()
	for i := 0; i < sss.Len() && i < maxScopeScan; i++ {
		if ss := sss.At(i); sameScope(ss, src) {
			return ss.Spans()
		}
	}
	ss := sss.AppendEmpty()
	src.Scope().CopyTo(ss.Scope())
	ss.SetSchemaUrl(src.SchemaUrl())
	return ss.Spans()
}

func sameResource(a, b ptrace.ResourceSpans) bool {
	ra, rb := a.Resource(), b.Resource()
	return a.SchemaUrl() == b.SchemaUrl() &&
		ra.DroppedAttributesCount() == rb.DroppedAttributesCount() &&
		entity.ResourceEntityRefs(ra).Len() == 0 && entity.ResourceEntityRefs(rb).Len() == 0 &&
		ra.Attributes().Equal(rb.Attributes())
}

func sameScope(a, b ptrace.ScopeSpans) bool {
	sa, sb := a.Scope(), b.Scope()
	return a.SchemaUrl() == b.SchemaUrl() && sa.Name() == sb.Name() && sa.Version() == sb.Version() &&
		sa.DroppedAttributesCount() == sb.DroppedAttributesCount() &&
		sa.Attributes().Equal(sb.Attributes())
}

// hashResource hashes what sameResource compares. Attributes are combined
// order-independently, as Map.Equal ignores order.
func hashResource(rs ptrace.ResourceSpans) uint64 {
	res := rs.Resource()
	h := maphash.String(groupSeed, rs.SchemaUrl()) ^ uint64(res.DroppedAttributesCount())*0x9e3779b97f4a7c15
	var sum uint64
	for k, v := range res.Attributes().All() {
		sum += maphash.String(groupSeed, k)*31 ^ hashValue(v)
	}
	return h ^ sum
}

// hashValue hashes scalar values; composite ones hash by type only (the
// full comparison settles them).
func hashValue(v pcommon.Value) uint64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return maphash.String(groupSeed, v.Str())
	case pcommon.ValueTypeInt:
		return uint64(v.Int()) * 0xbf58476d1ce4e5b9
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return 1
		}
		return 2
	case pcommon.ValueTypeDouble:
		return math.Float64bits(v.Double()) * 0x94d049bb133111eb
	}
	return uint64(v.Type()) + 3
}
