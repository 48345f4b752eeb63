package spanmetrics

import (
	"encoding/base64"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tailgate-otel/tailgate/internal/valuekey"
)

// Values with the same string form feed one series, as upstream keys
// series by pcommon.Value.AsString: int 500, string "500" and double
// 500.0; bool true and string "true". Different strings stay apart.
func TestValuesWithOneStringFormShareASeries(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Histogram.Disable = true
	cfg.Dimensions = []Dimension{{Name: "http.status_code"}, {Name: "retry"}}
	h := newHarness(t, cfg)
	span := func(code, retry any) spanSpec {
		return spanSpec{name: "GET", attrs: map[string]any{"http.status_code": code, "retry": retry}}
	}
	h.consume(t, t0, traces(checkout,
		span(int64(500), true), span("500", "true"), span(500.0, true),
		span(int64(501), false), span(500.5, "false"), span("0500", true)))
	got := flatten(h.flush(t, t0.Add(time.Minute)))
	counts := map[string]int64{}
	for _, p := range got {
		counts[toText(p.Attrs["http.status_code"])+"/"+toText(p.Attrs["retry"])] = p.Value
	}
	assert.Equal(t, map[string]int64{"500/true": 3, "501/false": 1, "500.5/false": 1, "0500/true": 1}, counts)
	// The series carries the value of the span that created it.
	assert.Equal(t, int64(500), got[0].Attrs["http.status_code"])
}

func toText(v any) string {
	val := pcommon.NewValueEmpty()
	_ = val.FromRaw(v)
	return val.AsString()
}

// appendValueText keys exactly by AsString: two values share a key
// exactly when their string forms are equal.
func FuzzValueText(f *testing.F) {
	f.Add(int64(500), 500.0, "500", true)
	f.Add(int64(-1), 1e21, "1e+21", false)
	f.Add(int64(0), math.Copysign(0, -1), "-0", true)
	f.Add(int64(7), 1e-7, "1e-7", false)
	f.Fuzz(func(t *testing.T, i int64, d float64, s string, b bool) {
		vals := []pcommon.Value{pcommon.NewValueInt(i), pcommon.NewValueDouble(d), pcommon.NewValueStr(s), pcommon.NewValueBool(b), pcommon.NewValueEmpty()}
		bs := pcommon.NewValueBytes()
		bs.Bytes().FromRaw([]byte(s))
		vals = append(vals, bs)
		for _, a := range vals {
			for _, c := range vals {
				same := string(appendValueText(nil, a)) == string(appendValueText(nil, c))
				require.Equal(t, a.AsString() == c.AsString(), same, "%v (%s) vs %v (%s)", a.AsRaw(), a.Type(), c.AsRaw(), c.Type())
			}
		}
	})
}

// Every series carries collector.instance.id, as upstream with its
// (beta, on) gate: the collector's collector.instance.id resource
// attribute, else its service.instance.id; exclude_dimensions removes it;
// a dimension of that name is refused.
func TestCollectorInstanceID(t *testing.T) {
	cfg := createDefaultConfig()
	h := newHarness(t, cfg)
	h.consume(t, t0, traces(checkout, spanSpec{name: "x"}))
	for _, p := range flatten(h.flush(t, t0.Add(time.Minute))) {
		assert.Equal(t, testInstance, p.Attrs[instanceKey])
	}

	cfg = createDefaultConfig()
	cfg.ExcludeDimensions = []string{instanceKey}
	h = newHarness(t, cfg)
	h.consume(t, t0, traces(checkout, spanSpec{name: "x"}))
	for _, p := range flatten(h.flush(t, t0.Add(time.Minute))) {
		assert.NotContains(t, p.Attrs, instanceKey)
	}

	cfg = createDefaultConfig()
	cfg.Dimensions = []Dimension{{Name: instanceKey}}
	require.ErrorContains(t, cfg.Validate(), `dimensions[0]::name: duplicate dimension "collector.instance.id"`)

	res := pcommon.NewResource()
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, instanceIDOf(res), "a random UUID when the collector names itself nowhere")
	res.Attributes().PutStr("service.instance.id", "svc-id")
	assert.Equal(t, "svc-id", instanceIDOf(res))
	res.Attributes().PutStr(instanceKey, "collector-id")
	assert.Equal(t, "collector-id", instanceIDOf(res))
}

// With upstream's connector linked (here: its gate registered by the
// test), its gates are followed: includeCollectorInstanceID switched off
// removes the dimension; excludeResourceMetrics switched on leaves the
// resource attributes out unless add_resource_attributes is set.
func TestFollowsUpstreamGatesWhenRegistered(t *testing.T) {
	reg := featuregate.GlobalRegistry()
	instance := reg.MustRegister(gateInstanceID, featuregate.StageBeta)
	exclude := reg.MustRegister(gateExcludeResource, featuregate.StageAlpha)
	require.NoError(t, reg.Set(instance.ID(), false))
	require.NoError(t, reg.Set(exclude.ID(), true))
	t.Cleanup(func() {
		_ = reg.Set(instance.ID(), true)
		_ = reg.Set(exclude.ID(), false)
	})

	for _, add := range []bool{false, true} {
		cfg := createDefaultConfig()
		cfg.AddResourceAttributes = add
		h := newHarness(t, cfg)
		h.consume(t, t0, traces(checkout, spanSpec{name: "x"}))
		got := flatten(h.flush(t, t0.Add(time.Minute)))
		require.NotEmpty(t, got)
		for _, p := range got {
			assert.NotContains(t, p.Attrs, instanceKey)
			if add {
				assert.Equal(t, checkout, p.Resource)
			} else {
				assert.Empty(t, p.Resource)
			}
		}
	}
}

// A bytes value is keyed by its base64, as AsString writes it, whole or
// truncated, across appendBase64's chunk boundaries.
func TestAppendBase64(t *testing.T) {
	for _, size := range []int{0, 1, 2, 3, 47, 48, 49, 96, 100} {
		raw := make([]byte, size)
		for i := range raw {
			raw[i] = byte(i*7 + 1)
		}
		v := pcommon.NewValueBytes()
		v.Bytes().FromRaw(raw)
		assert.Equal(t, valuekey.AppendString(nil, v.AsString()), appendValueText(nil, v), "size %d", size)
		for _, n := range []int{0, size / 2, size} {
			assert.Equal(t, valuekey.AppendString(nil, base64.StdEncoding.EncodeToString(raw[:n])), appendBase64(nil, v.Bytes(), n), "size %d, first %d", size, n)
		}
		buf := make([]byte, 0, 256)
		allocs := testing.AllocsPerRun(10, func() { buf = appendBase64(buf[:0], v.Bytes(), size) })
		assert.Zero(t, allocs, "size %d", size)
	}
}
