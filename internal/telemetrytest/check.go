package telemetrytest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// regenerate is what a stale documentation.md asks for.
const regenerate = "regenerate documentation.md with `make telemetry-docs`"

// Check loads the metadata.yaml files (each with its documentation.md) and
// fails t for every difference with what rec recorded: instruments of
// tailgate scopes created by the component and attributes of their
// measurements. Call it after the component was built, started and given
// some data, and before the recorder is shut down.
func Check(t testing.TB, rec *Recorder, metadataPaths ...string) {
	t.Helper()
	docs := make([]*Doc, 0, len(metadataPaths))
	for _, p := range metadataPaths {
		d, err := Load(p)
		if err != nil {
			t.Fatalf("telemetry documentation: %v", err)
		}
		docs = append(docs, d)
	}
	observed, err := rec.ObservedAttributes(context.Background())
	if err != nil {
		t.Fatalf("collecting measurements: %v", err)
	}
	for _, p := range Compare(docs, rec.Instruments(), observed) {
		t.Error(p)
	}
}

// Compare returns every difference between the documented telemetry and
// the instruments created (and, for attributes, the measurements seen).
// Instruments outside ScopePrefix are ignored.
func Compare(docs []*Doc, insts []Instrument, observed map[string]Observed) []string {
	var problems []string
	type entry struct {
		doc *Doc
		key string
		m   Metric
	}
	documented := map[string]entry{}
	for _, d := range docs {
		problems = append(problems, d.selfProblems()...)
		for key, m := range d.Meta.Telemetry.Metrics {
			documented[NamePrefix+key] = entry{d, key, m}
		}
	}

	registered := map[string]Instrument{}
	for _, in := range insts {
		if !strings.HasPrefix(in.Scope, ScopePrefix) {
			continue
		}
		if prev, ok := registered[in.Name]; ok {
			if !sameInstrument(prev, in) {
				problems = append(problems, fmt.Sprintf("%s is created twice with different definitions:\n  %+v\n  %+v", in.Name, prev, in))
			}
			continue
		}
		registered[in.Name] = in
	}

	for _, name := range slices.Sorted(maps.Keys(registered)) {
		in := registered[name]
		e, ok := documented[name]
		if !ok {
			problems = append(problems, undocumented(docs, in, observed[name]))
			continue
		}
		problems = append(problems, e.doc.mismatches(e.key, e.m, in)...)
	}
	for _, name := range slices.Sorted(maps.Keys(documented)) {
		if _, ok := registered[name]; ok {
			continue
		}
		e := documented[name]
		problems = append(problems, fmt.Sprintf(
			"%s documents %s (telemetry.metrics.%s) but the component did not create it: "+
				"if the instrument was removed or renamed, update its block and %s; "+
				"if only some configuration creates it, make this test's configuration enable it",
			e.doc.Path, name, e.key, regenerate))
	}

	for _, name := range slices.Sorted(maps.Keys(observed)) {
		e, ok := documented[name]
		if !ok {
			continue // reported above as undocumented
		}
		problems = append(problems, e.doc.attributeProblems(e.key, e.m, observed[name])...)
	}
	return problems
}

func sameInstrument(a, b Instrument) bool {
	return a.Scope == b.Scope && a.Kind == b.Kind && a.Unit == b.Unit &&
		a.Description == b.Description && slices.Equal(a.Buckets, b.Buckets)
}

// mismatches compares one documented metric with its instrument.
func (d *Doc) mismatches(key string, m Metric, in Instrument) []string {
	var out []string
	where := fmt.Sprintf("%s telemetry.metrics.%s", d.Path, key)
	if in.Scope != d.Meta.ScopeName {
		out = append(out, fmt.Sprintf("%s: created in scope %q, documented in scope_name %q", where, in.Scope, d.Meta.ScopeName))
	}
	want, buckets, ok := m.Shape()
	got := in.Kind.Shape()
	if ok && want != got {
		out = append(out, fmt.Sprintf("%s: the code creates an %s, which is documented as %s; the block should read:\n%s",
			where, in.Kind, describeShape(want), indent(shapeYAML(got, in.Buckets), "      ")))
	}
	if m.Unit != in.Unit {
		out = append(out, fmt.Sprintf("%s: unit is %q in the code, %q documented", where, in.Unit, m.Unit))
	}
	if strings.TrimSpace(m.Description) != strings.TrimSpace(in.Description) {
		out = append(out, fmt.Sprintf("%s: description differs from the code's (which Prometheus serves as HELP):\n  code:       %s\n  documented: %s",
			where, in.Description, m.Description))
	}
	if ok && !slices.Equal(buckets, in.Buckets) {
		out = append(out, fmt.Sprintf("%s: bucket_boundaries %v documented, %v in the code", where, buckets, in.Buckets))
	}
	return out
}

// attributeProblems checks the attributes measurements carried against
// the metric's documented ones.
func (d *Doc) attributeProblems(key string, m Metric, obs Observed) []string {
	var out []string
	byName := map[string]string{} // rendered name -> attributes key
	for _, a := range m.Attributes {
		byName[d.Meta.attrName(a)] = a
	}
	for _, k := range slices.Sorted(maps.Keys(obs)) {
		o := obs[k]
		ak, ok := byName[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s telemetry.metrics.%s: measurements carry attribute %q (%s, seen %v), which is not documented; add %q to the metric's attributes and declare it under attributes:\n%s",
				d.Path, key, k, o.Type, o.Values, k, indent(attrYAML(k, o), "  ")))
			continue
		}
		a := d.Meta.Attributes[ak]
		if a.Type != o.Type {
			out = append(out, fmt.Sprintf("%s attributes.%s: type %q documented, measurements carry %s", d.Path, ak, a.Type, o.Type))
		}
		if len(a.Enum) > 0 {
			for _, v := range o.Values {
				if !slices.Contains(a.Enum, v) {
					out = append(out, fmt.Sprintf("%s attributes.%s: value %q is not in its enum %v", d.Path, ak, v, a.Enum))
				}
			}
		}
	}
	return out
}

func (md *Metadata) attrName(key string) string {
	if a, ok := md.Attributes[key]; ok && a.NameOverride != "" {
		return a.NameOverride
	}
	return key
}

// selfProblems checks metadata.yaml for what mdatagen itself would refuse
// and documentation.md against metadata.yaml.
func (d *Doc) selfProblems() []string {
	var out []string
	md := d.Meta
	rendered := map[string]DocMetric{}
	for _, dm := range d.Markdown {
		rendered[dm.Name] = dm
	}
	for _, key := range slices.Sorted(maps.Keys(md.Telemetry.Metrics)) {
		m := md.Telemetry.Metrics[key]
		name := NamePrefix + key
		sh, _, ok := m.Shape()
		if !ok {
			out = append(out, fmt.Sprintf("%s telemetry.metrics.%s: needs exactly one of sum, gauge, histogram", d.Path, key))
		}
		for _, a := range m.Attributes {
			if _, ok := md.Attributes[a]; !ok {
				out = append(out, fmt.Sprintf("%s telemetry.metrics.%s: attribute %q is not declared under attributes", d.Path, key, a))
			}
		}
		dm, ok2 := rendered[name]
		if !ok2 {
			out = append(out, fmt.Sprintf("%s/%s does not document %s: %s", dirOf(d.Path), DocFile, name, regenerate))
			continue
		}
		if ok && !d.renderedMatches(m, sh, dm) {
			out = append(out, fmt.Sprintf("%s/%s describes %s differently from metadata.yaml: %s", dirOf(d.Path), DocFile, name, regenerate))
		}
	}
	for _, dm := range d.Markdown {
		if _, ok := md.Telemetry.Metrics[strings.TrimPrefix(dm.Name, NamePrefix)]; !ok || !strings.HasPrefix(dm.Name, NamePrefix) {
			out = append(out, fmt.Sprintf("%s/%s documents %s, which metadata.yaml does not: %s", dirOf(d.Path), DocFile, dm.Name, regenerate))
		}
	}
	return out
}

// renderedMatches reports whether mdatagen's rendering dm agrees with m.
func (d *Doc) renderedMatches(m Metric, sh Shape, dm DocMetric) bool {
	mono := ""
	if sh.Data == "sum" {
		mono = strconv.FormatBool(sh.Monotonic)
	}
	if dm.Unit != m.Unit || dm.MetricType != titleCase(sh.Data) || dm.ValueType != titleCase(sh.ValueType) ||
		dm.Monotonic != mono || dm.Description != strings.Join(strings.Fields(m.Description), " ") ||
		len(dm.Attributes) != len(m.Attributes) {
		return false
	}
	for i, key := range m.Attributes {
		a, da := d.Meta.Attributes[key], dm.Attributes[i]
		if da.Name != d.Meta.attrName(key) || da.Type != pdataType(a.Type) || !slices.Equal(da.Values, a.Enum) {
			return false
		}
	}
	return true
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// pdataType is how mdatagen's documentation names an attribute type.
func pdataType(t string) string {
	switch t {
	case "string":
		return "Str"
	case "bytes":
		return "Bytes"
	default:
		return titleCase(t)
	}
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return "."
}

func describeShape(s Shape) string {
	var b strings.Builder
	b.WriteString(s.Data)
	fmt.Fprintf(&b, " (value_type %s", s.ValueType)
	if s.Data == "sum" {
		fmt.Fprintf(&b, ", monotonic %v", s.Monotonic)
	}
	if s.Async {
		b.WriteString(", async")
	}
	b.WriteString(")")
	return b.String()
}

// undocumented explains how to document an instrument nobody documented.
func undocumented(docs []*Doc, in Instrument, obs Observed) string {
	file := ""
	for _, d := range docs {
		if d.Meta.ScopeName == in.Scope {
			file = d.Path
		}
	}
	var b strings.Builder
	if file == "" {
		fmt.Fprintf(&b, "%s (scope %s) is created but no metadata.yaml given to this test has scope_name %q: "+
			"document it in the metadata.yaml of the component that owns the scope and pass that file to telemetrytest.Check.\n", in.Name, in.Scope, in.Scope)
	} else {
		fmt.Fprintf(&b, "%s is created but not documented: add this block to %s under telemetry.metrics (keys sorted), then %s:\n", in.Name, file, regenerate)
	}
	key, ok := strings.CutPrefix(in.Name, NamePrefix)
	if !ok {
		fmt.Fprintf(&b, "  (its name must start with %q: mdatagen prefixes every key with it)\n", NamePrefix)
		key = in.Name
	}
	fmt.Fprintf(&b, "    %s:\n", key)
	b.WriteString("      enabled: true\n      stability: development\n")
	fmt.Fprintf(&b, "      description: %s\n", yamlString(in.Description))
	fmt.Fprintf(&b, "      unit: %s\n", yamlString(in.Unit))
	b.WriteString(indent(shapeYAML(in.Kind.Shape(), in.Buckets), "      "))
	if len(obs) > 0 {
		keys := slices.Sorted(maps.Keys(obs))
		fmt.Fprintf(&b, "      attributes: [%s]\n", strings.Join(keys, ", "))
		b.WriteString("  and declare each attribute not yet under attributes: (say what it means):\n")
		for _, k := range keys {
			b.WriteString(indent(attrYAML(k, obs[k]), "    "))
		}
	}
	return b.String()
}

func shapeYAML(s Shape, buckets []float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n", s.Data)
	if s.Async {
		b.WriteString("  async: true\n")
	}
	fmt.Fprintf(&b, "  value_type: %s\n", s.ValueType)
	if s.Data == "sum" {
		fmt.Fprintf(&b, "  monotonic: %v\n", s.Monotonic)
	}
	if len(buckets) > 0 {
		parts := make([]string, len(buckets))
		for i, v := range buckets {
			parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		fmt.Fprintf(&b, "  bucket_boundaries: [%s]\n", strings.Join(parts, ", "))
	}
	return b.String()
}

func attrYAML(key string, o ObservedAttr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  description: <what it means>\n  type: %s\n", key, o.Type)
	if o.Type == "string" {
		quoted := make([]string, len(o.Values))
		for i, v := range o.Values {
			quoted[i] = yamlString(v)
		}
		fmt.Fprintf(&b, "  enum: [%s]   # if the values are a fixed set (seen here: %s)\n", strings.Join(quoted, ", "), strings.Join(o.Values, ", "))
	}
	return b.String()
}

func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + line)
	}
	return b.String()
}

// yamlString quotes s when YAML would read it as something else: a
// number, a boolean, null, or text with YAML syntax in it.
func yamlString(s string) string {
	_, numErr := strconv.ParseFloat(s, 64)
	switch {
	case s == "", numErr == nil, strings.ContainsAny(s, ":{}[]#&*!|>'\"%@`,"), strings.TrimSpace(s) != s:
		return strconv.Quote(s)
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~":
		return strconv.Quote(s)
	}
	return s
}
