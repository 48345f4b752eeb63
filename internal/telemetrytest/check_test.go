package telemetrytest

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
)

const sampleScope = ScopePrefix + "/sample"

func goodInstruments() []Instrument {
	return []Instrument{
		{Scope: sampleScope, Name: "otelcol_sample_items", Kind: Int64Counter, Unit: "{items}", Description: "Items seen, by reason."},
		{Scope: sampleScope, Name: "otelcol_sample_latency", Kind: Int64Histogram, Unit: "ms", Description: "Latency per endpoint.", Buckets: []float64{1, 10, 100}},
		{Scope: sampleScope, Name: "otelcol_sample_pending", Kind: Int64ObservableGauge, Unit: "{items}", Description: "Items pending."},
		// Another project's instrument: not ours to document.
		{Scope: "go.opentelemetry.io/collector/exporter/exporterhelper", Name: "otelcol_exporter_queue_size", Kind: Int64ObservableGauge},
	}
}

func goodObserved() map[string]Observed {
	return map[string]Observed{
		"otelcol_sample_items":   {"reason": {Type: "string", Values: []string{"full"}}},
		"otelcol_sample_latency": {"endpoint": {Type: "string", Values: []string{"a:1"}}, "success": {Type: "bool", Values: []string{"false", "true"}}},
	}
}

func loadSample(t *testing.T) *Doc {
	t.Helper()
	d, err := Load("testdata/metadata.yaml")
	require.NoError(t, err)
	return d
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name   string
		insts  func([]Instrument) []Instrument
		obs    func(map[string]Observed)
		doc    func(*Doc)
		wantIn []string // one problem per entry, containing it
	}{
		{name: "documented as registered"},
		{
			name: "registered, not documented: the message is the block to add",
			insts: func(in []Instrument) []Instrument {
				return append(in, Instrument{Scope: sampleScope, Name: "otelcol_sample_new_things", Kind: Int64Counter, Unit: "{things}", Description: "New things: counted."})
			},
			obs: func(o map[string]Observed) {
				o["otelcol_sample_new_things"] = Observed{"reason": {Type: "string", Values: []string{"a", "b"}}}
			},
			wantIn: []string{"otelcol_sample_new_things is created but not documented: add this block to internal/telemetrytest/testdata/metadata.yaml under telemetry.metrics (keys sorted), then regenerate documentation.md with `make telemetry-docs`:\n" +
				"    sample_new_things:\n      enabled: true\n      stability: development\n      description: \"New things: counted.\"\n      unit: \"{things}\"\n" +
				"      sum:\n        value_type: int\n        monotonic: true\n      attributes: [reason]\n"},
		},
		{
			name: "registered in a scope no file covers",
			insts: func(in []Instrument) []Instrument {
				return append(in, Instrument{Scope: ScopePrefix + "/other", Name: "otelcol_other_x", Kind: Int64Gauge})
			},
			wantIn: []string{`no metadata.yaml given to this test has scope_name "github.com/tailgate-otel/tailgate/other"`},
		},
		{
			name:   "documented, not registered",
			insts:  func(in []Instrument) []Instrument { return slices.Delete(in, 2, 3) },
			wantIn: []string{"documents otelcol_sample_pending (telemetry.metrics.sample_pending) but the component did not create it"},
		},
		{
			name: "unit, description, kind and buckets differ",
			insts: func(in []Instrument) []Instrument {
				in[1].Unit, in[1].Description, in[1].Kind, in[1].Buckets = "s", "Latency.", Float64Histogram, []float64{1}
				return in
			},
			wantIn: []string{
				"the code creates an Float64Histogram, which is documented as histogram (value_type int); the block should read:\n      histogram:\n        value_type: double\n        bucket_boundaries: [1]\n",
				`unit is "s" in the code, "ms" documented`,
				"description differs",
				"bucket_boundaries [1 10 100] documented, [1] in the code",
			},
		},
		{
			name: "created twice, differently",
			insts: func(in []Instrument) []Instrument {
				dup := in[0]
				dup.Unit = "{other}"
				return append(in, dup)
			},
			wantIn: []string{"otelcol_sample_items is created twice with different definitions"},
		},
		{
			name:   "scope differs from scope_name",
			insts:  func(in []Instrument) []Instrument { in[2].Scope = ScopePrefix + "/sample/internal/x"; return in },
			wantIn: []string{`created in scope "github.com/tailgate-otel/tailgate/sample/internal/x", documented in scope_name "github.com/tailgate-otel/tailgate/sample"`},
		},
		{
			name: "undocumented attribute, enum and type violations",
			obs: func(o map[string]Observed) {
				o["otelcol_sample_items"] = Observed{"reason": {Type: "string", Values: []string{"early", "full"}}, "tier": {Type: "string", Values: []string{"agent"}}}
				o["otelcol_sample_latency"]["success"] = ObservedAttr{Type: "string", Values: []string{"yes"}}
			},
			wantIn: []string{
				`attributes.reason: value "early" is not in its enum [full late]`,
				`measurements carry attribute "tier" (string, seen [agent]), which is not documented`,
				`attributes.success: type "bool" documented, measurements carry string`,
			},
		},
		{
			name: "documentation.md stale",
			doc: func(d *Doc) {
				d.Markdown = slices.Delete(d.Markdown, 0, 1)
				d.Markdown[0].Unit = "s"
				d.Markdown = append(d.Markdown, DocMetric{Name: "otelcol_sample_gone"})
			},
			wantIn: []string{
				"internal/telemetrytest/testdata/documentation.md does not document otelcol_sample_items",
				"internal/telemetrytest/testdata/documentation.md describes otelcol_sample_latency differently",
				"internal/telemetrytest/testdata/documentation.md documents otelcol_sample_gone, which metadata.yaml does not",
			},
		},
		{
			name: "metadata.yaml inconsistent",
			doc: func(d *Doc) {
				m := d.Meta.Telemetry.Metrics["sample_items"]
				m.Attributes = append(m.Attributes, "nowhere")
				m.Gauge = &Data{ValueType: "int"}
				d.Meta.Telemetry.Metrics["sample_items"] = m
			},
			wantIn: []string{
				"telemetry.metrics.sample_items: needs exactly one of sum, gauge, histogram",
				`telemetry.metrics.sample_items: attribute "nowhere" is not declared under attributes`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := loadSample(t)
			insts, obs := goodInstruments(), goodObserved()
			if tt.insts != nil {
				insts = tt.insts(insts)
			}
			if tt.obs != nil {
				tt.obs(obs)
			}
			if tt.doc != nil {
				tt.doc(d)
			}
			got := Compare([]*Doc{d}, insts, obs)
			require.Len(t, got, len(tt.wantIn), strings.Join(got, "\n---\n"))
			for _, want := range tt.wantIn {
				assert.True(t, slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, want) }),
					"no problem contains %q in:\n%s", want, strings.Join(got, "\n---\n"))
			}
		})
	}
}

// TestCheckReadsRealRegistration runs the whole path: instruments created
// through a Recorder, measurements, Check against the sample files.
func TestCheckReadsRealRegistration(t *testing.T) {
	rec := NewForTest(t)
	for _, in := range goodInstruments()[:3] {
		m := rec.Meter(in.Scope)
		var err error
		switch in.Kind {
		case Int64Counter:
			_, err = m.Int64Counter(in.Name, metric.WithUnit(in.Unit), metric.WithDescription(in.Description))
		case Int64ObservableGauge:
			_, err = m.Int64ObservableGauge(in.Name, metric.WithUnit(in.Unit), metric.WithDescription(in.Description))
		}
		require.NoError(t, err)
	}
	ft := &fakeT{TB: t}
	Check(ft, rec, "testdata/metadata.yaml")
	require.Len(t, ft.errors, 1, ft.errors)
	assert.Contains(t, ft.errors[0], "documents otelcol_sample_latency")
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir + "/metadata.yaml")
	assert.Error(t, err)
	raw, err := os.ReadFile("testdata/metadata.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dir+"/metadata.yaml", raw, 0o600))
	_, err = Load(dir + "/metadata.yaml")
	assert.ErrorContains(t, err, "make telemetry-docs", "a missing documentation.md says how to render it")
	_, err = ParseMetadata([]byte("type: x\nscope_name: y\ntelemetry:\n  metrics:\n    a:\n      descripton: typo\n"))
	assert.ErrorContains(t, err, "descripton", "misspelt keys are refused")
	_, err = ParseMetadata([]byte("type: x\n"))
	assert.ErrorContains(t, err, "scope_name")
}

func TestParseDocumentation(t *testing.T) {
	raw, err := os.ReadFile("testdata/documentation.md")
	require.NoError(t, err)
	got, err := ParseDocumentation(raw)
	require.NoError(t, err)
	assert.Equal(t, []DocMetric{
		{Name: "otelcol_sample_items", Description: "Items seen, by reason.", Unit: "{items}", MetricType: "Sum", ValueType: "Int", Monotonic: "true",
			Attributes: []DocAttribute{{Name: "reason", Type: "Str", Values: []string{"full", "late"}}}},
		{Name: "otelcol_sample_latency", Description: "Latency per endpoint.", Unit: "ms", MetricType: "Histogram", ValueType: "Int",
			Attributes: []DocAttribute{{Name: "endpoint", Type: "Str"}, {Name: "success", Type: "Bool"}}},
		{Name: "otelcol_sample_pending", Description: "Items pending.", Unit: "{items}", MetricType: "Gauge", ValueType: "Int"},
	}, got)

	for _, bad := range []string{
		"### a\n\n| Unit | Metric Type |\n| --- | --- |\n| ms |\n",
		"### a\n\n#### Attributes\n\n| Name | Description | Values |\n| - | - | - |\n| x | y | Str ``a`` |\n",
	} {
		_, err := ParseDocumentation([]byte(bad))
		assert.Error(t, err, bad)
	}
}

type fakeT struct {
	testing.TB
	errors []string
}

func (f *fakeT) Error(args ...any) {
	for _, a := range args {
		f.errors = append(f.errors, a.(string))
	}
}

func TestYAMLString(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "true": `"true"`, "False": `"False"`, "null": `"null"`, "1.5": `"1.5"`, "42": `"42"`,
		"a: b": `"a: b"`, "": `""`, " x": `" x"`, "{items}": `"{items}"`, "num_traces": "num_traces",
	} {
		assert.Equal(t, want, yamlString(in), in)
	}
}
