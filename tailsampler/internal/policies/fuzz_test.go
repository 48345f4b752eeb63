package policies

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"sigs.k8s.io/yaml"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
	"github.com/tailgate-otel/tailgate/tailsampler/policy/policytest"
)

// FuzzPolicyConfig decodes arbitrary policy maps (JSON-encoded) and
// validates them: no input may panic, and a list that validates must
// build and decide.
func FuzzPolicyConfig(f *testing.F) {
	for _, name := range []string{"testdata/policies_all.yaml", "testdata/policies_seed.yaml"} {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	f.Add([]byte(`{"policies":[{"name":"a","type":"composite","composite":{"max_total_spans_per_second":-1,"rate_allocation":[{"policy":"x","percent":1e9}]}}]}`))
	f.Add([]byte(`{"policies":[{"name":"n","type":"not","not":{"not_sub_policy":{"name":"n2","type":"not","not":{}}}}]}`))
	tr := policytest.NewTrace(tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 3, ErrorEvery: 1})[0])
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		cfgs, err := decodePolicies(confmap.NewFromStringMap(m))
		if err != nil {
			return
		}
		if Validate(cfgs, Builtin()) != nil {
			return
		}
		ps, err := New(cfgs, Builtin(), policy.Settings{}, Options{})
		if err != nil {
			t.Fatalf("validated config failed to build: %v", err)
		}
		d, _ := ps.Decide(context.Background(), tr)
		if d != policy.Sampled && d != policy.NotSampled && d != policy.Dropped {
			t.Fatalf("Decide returned %v", d)
		}
	})
}

// FuzzDecide runs every built-in policy type over arbitrary pdata (OTLP
// protobuf): odd attributes, timestamps and tracestates never panic, and
// the final decision is always one of the three.
func FuzzDecide(f *testing.F) {
	var m ptrace.ProtoMarshaler
	for _, spec := range []tracegen.Spec{{Traces: 1, SpansPerTrace: 5, ErrorEvery: 1}, {Traces: 1, SpansPerTrace: 2, SlowEvery: 1}} {
		b, err := m.MarshalTraces(tracegen.Batches(spec)[0])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.TraceState().FromRaw(",,=,vendor=,vendor=v1=x, ,")
	sp.SetStartTimestamp(100)
	sp.SetEndTimestamp(5)
	sp.Events().AppendEmpty().SetName("exception")
	b, _ := m.MarshalTraces(td)
	f.Add(b)

	raw, err := os.ReadFile("testdata/policies_all.yaml")
	if err != nil {
		f.Fatal(err)
	}
	js, _ := yaml.YAMLToJSON(raw)
	var cm map[string]any
	_ = json.Unmarshal(js, &cm)
	cfgs, err := decodePolicies(confmap.NewFromStringMap(cm))
	if err != nil {
		f.Fatal(err)
	}
	ps, err := New(cfgs, Builtin(), policy.Settings{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := u.UnmarshalTraces(data)
		if err != nil {
			return
		}
		d, _ := ps.Decide(context.Background(), policytest.NewTrace(td))
		if d != policy.Sampled && d != policy.NotSampled && d != policy.Dropped {
			t.Fatalf("Decide returned %v", d)
		}
	})
}
