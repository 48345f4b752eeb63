package lbexporter

import (
	"cmp"
	"encoding/binary"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tailgate-otel/tailgate/internal/valuekey"
)

// Routing keys are byte strings hashed by the ring, built from
// internal/valuekey's typed, length-prefixed encoding so that distinct
// inputs never produce the same key: "a|b" + "c" differs from "a" + "b|c",
// int 200 differs from string "200", and a missing attribute (tagMissing)
// differs from an empty one. Names and other non-value fields carry
// tagName. Both tags stay clear of valuekey's type tags.
const (
	tagMissing byte = 1
	tagName    byte = 2
)

const serviceNameKey = "service.name"

// appendField appends a tagged, length-prefixed non-value field.
func appendField(dst []byte, tag byte, payload string) []byte {
	return valuekey.AppendString(append(dst, tag), payload)
}

// appendNamed appends name and value (or the missing marker).
func appendNamed(dst []byte, name string, v pcommon.Value, ok bool) []byte {
	dst = appendField(dst, tagName, name)
	if !ok {
		return append(dst, tagMissing)
	}
	return valuekey.AppendValue(dst, v)
}

// appendNamedStr appends name and a string value (pseudo-attributes),
// encoded as a string attribute of that value would be.
func appendNamedStr(dst []byte, name, v string) []byte {
	return valuekey.AppendStr(appendField(dst, tagName, name), v)
}

// appendSortedMap appends every attribute of m sorted by key, so that the
// identity of a resource or stream does not depend on attribute order.
func appendSortedMap(dst []byte, m pcommon.Map, scratch *[]string) []byte {
	keys := (*scratch)[:0]
	for k := range m.All() {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare[string])
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		v, _ := m.Get(k)
		dst = appendNamed(dst, k, v, true)
	}
	*scratch = keys
	return dst
}

// serviceKey appends the service routing key of a resource and reports
// whether service.name was present. Without it the key is the empty
// service name, so such data always lands on one (deterministic) endpoint.
func serviceKey(dst []byte, res pcommon.Resource) ([]byte, bool) {
	v, ok := res.Attributes().Get(serviceNameKey)
	if !ok {
		return dst, false
	}
	if v.Type() == pcommon.ValueTypeStr {
		return append(dst, v.Str()...), true
	}
	return append(dst, v.AsString()...), true
}

// attrLookup resolves routing_attributes level by level: resource, then
// scope, then the item (span, record, data point). resolved reports whether
// all attributes were found above the item level, in which case key is
// final and the whole scope can be routed at once.
type attrLookup struct {
	attrs   []string
	pending []int // indices into attrs still unresolved after resource+scope
	found   []bool
	vals    []pcommon.Value
}

func newAttrLookup(attrs []string) attrLookup {
	return attrLookup{attrs: attrs, found: make([]bool, len(attrs)), vals: make([]pcommon.Value, len(attrs))}
}

// resolveUpper looks attributes up in the resource then the scope.
func (a *attrLookup) resolveUpper(res, scope pcommon.Map) (resolved bool) {
	a.pending = a.pending[:0]
	for i, name := range a.attrs {
		if v, ok := res.Get(name); ok {
			a.found[i], a.vals[i] = true, v
			continue
		}
		if v, ok := scope.Get(name); ok {
			a.found[i], a.vals[i] = true, v
			continue
		}
		a.found[i] = false
		a.pending = append(a.pending, i)
	}
	return len(a.pending) == 0
}

// appendKey writes the key in routing_attributes order; item supplies
// values for attributes not found above the item (pseudo-attributes
// included).
func (a *attrLookup) appendKey(dst []byte, item func(name string) (pcommon.Value, string, int)) []byte {
	for i, name := range a.attrs {
		if a.found[i] {
			dst = appendNamed(dst, name, a.vals[i], true)
			continue
		}
		if item == nil {
			dst = appendNamed(dst, name, pcommon.Value{}, false)
			continue
		}
		v, s, kind := item(name)
		switch kind {
		case itemValue:
			dst = appendNamed(dst, name, v, true)
		case itemPseudo:
			dst = appendNamedStr(dst, name, s)
		default:
			dst = appendNamed(dst, name, v, false)
		}
	}
	return dst
}

const (
	itemMissing = iota
	itemValue
	itemPseudo
)
