package valuekey

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func values() map[string]pcommon.Value {
	sl := pcommon.NewValueSlice()
	sl.Slice().AppendEmpty().SetStr("a")
	sl.Slice().AppendEmpty().SetInt(1)
	mp := pcommon.NewValueMap()
	mp.Map().PutStr("k", "v")
	by := pcommon.NewValueBytes()
	by.Bytes().FromRaw([]byte{1, 2})
	return map[string]pcommon.Value{
		"str 200":    pcommon.NewValueStr("200"),
		"int 200":    pcommon.NewValueInt(200),
		"double 200": pcommon.NewValueDouble(200),
		"bool true":  pcommon.NewValueBool(true),
		"bool false": pcommon.NewValueBool(false),
		"empty str":  pcommon.NewValueStr(""),
		"empty":      pcommon.NewValueEmpty(),
		"bytes":      by,
		"slice":      sl,
		"map":        mp,
	}
}

// Known answers: the encoding routes data between agents of different
// releases, so any change to it must fail here first.
func TestGolden(t *testing.T) {
	want := map[string]string{
		"str 200":    "7303323030",
		"int 200":    "69c800000000000000",
		"double 200": "640000000000006940",
		"bool true":  "6201",
		"bool false": "6200",
		"empty str":  "7300",
		"empty":      "65",
		"bytes":      "79020102",
		"slice":      "6c02730161690100000000000000",
		"map":        "6d01016b730176",
	}
	for name, v := range values() {
		assert.Equal(t, want[name], hex.EncodeToString(AppendValue(nil, v)), name)
	}
}

func TestDistinct(t *testing.T) {
	seen := map[string]string{}
	for name, v := range values() {
		k := string(AppendValue(nil, v))
		prev, dup := seen[k]
		require.False(t, dup, "%s collides with %s", name, prev)
		seen[k] = name
	}
	// Boundaries are unambiguous across consecutive fields.
	a := AppendStr(AppendStr(nil, "a|b"), "c")
	b := AppendStr(AppendStr(nil, "a"), "b|c")
	assert.NotEqual(t, a, b)
	assert.Equal(t, AppendValue(nil, pcommon.NewValueStr("x")), AppendStr(nil, "x"))
}

func TestNoAllocation(t *testing.T) {
	vs := values()
	buf := make([]byte, 0, 256)
	for name, v := range vs {
		allocs := testing.AllocsPerRun(100, func() { buf = AppendValue(buf[:0], v) })
		assert.Zero(t, allocs, name)
	}
}

func FuzzAppendValue(f *testing.F) {
	f.Add("x", int64(1), 1.5, true)
	f.Fuzz(func(t *testing.T, s string, i int64, d float64, b bool) {
		// Values of different types never encode alike.
		keys := [][]byte{
			AppendValue(nil, pcommon.NewValueStr(s)),
			AppendValue(nil, pcommon.NewValueInt(i)),
			AppendValue(nil, pcommon.NewValueDouble(d)),
			AppendValue(nil, pcommon.NewValueBool(b)),
		}
		for x := range keys {
			for y := x + 1; y < len(keys); y++ {
				assert.NotEqual(t, keys[x], keys[y])
			}
		}
	})
}
