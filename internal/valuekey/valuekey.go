package valuekey

import (
	"encoding/binary"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Type tags. Callers may use other bytes for their own markers (a
// missing attribute, a field name) as long as they avoid these.
const (
	TagStr    byte = 's'
	TagInt    byte = 'i'
	TagDouble byte = 'd'
	TagBool   byte = 'b'
	TagBytes  byte = 'y'
	TagSlice  byte = 'l'
	TagMap    byte = 'm'
	TagEmpty  byte = 'e'
)

// AppendString appends s, length-prefixed, with no type tag.
func AppendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendStr appends s encoded exactly as a string Value holding s.
func AppendStr(dst []byte, s string) []byte { return AppendString(append(dst, TagStr), s) }

// AppendValue appends v with its type.
func AppendValue(dst []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return AppendStr(dst, v.Str())
	case pcommon.ValueTypeInt:
		return binary.LittleEndian.AppendUint64(append(dst, TagInt), uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		return binary.LittleEndian.AppendUint64(append(dst, TagDouble), math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return append(dst, TagBool, 1)
		}
		return append(dst, TagBool, 0)
	case pcommon.ValueTypeBytes:
		bs := v.Bytes()
		dst = binary.AppendUvarint(append(dst, TagBytes), uint64(bs.Len()))
		for i := 0; i < bs.Len(); i++ {
			dst = append(dst, bs.At(i))
		}
		return dst
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		dst = binary.AppendUvarint(append(dst, TagSlice), uint64(sl.Len()))
		for i := 0; i < sl.Len(); i++ {
			dst = AppendValue(dst, sl.At(i))
		}
		return dst
	case pcommon.ValueTypeMap:
		m := v.Map()
		dst = binary.AppendUvarint(append(dst, TagMap), uint64(m.Len()))
		for k, mv := range m.All() {
			dst = AppendValue(AppendString(dst, k), mv)
		}
		return dst
	default:
		return append(dst, TagEmpty)
	}
}
