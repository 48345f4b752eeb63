package policies

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
	"github.com/tailgate-otel/tailgate/tailsampler/policy/policytest"
)

func TestPolicyOTTL(t *testing.T) {
	plain := buildTrace(testTraceID, spanSpec{attrs: map[string]any{"http.method": "GET"}})
	post := buildTrace(testTraceID, spanSpec{attrs: map[string]any{"http.method": "GET"}}, spanSpec{attrs: map[string]any{"http.method": "POST"}})
	withEvent := buildTrace(testTraceID, spanSpec{events: []string{"log", "exception"}})
	resource := buildTrace(testTraceID, spanSpec{resAttrs: map[string]any{"service.name": "checkout"}})
	tests := []struct {
		name  string
		block string
		tr    *policytest.Trace
		want  policy.Decision
	}{
		{"span match", `span: ['attributes["http.method"] == "POST"']`, post, policy.Sampled},
		{"span no match", `span: ['attributes["http.method"] == "POST"']`, plain, policy.NotSampled},
		{"span or", `span: ['name == "nope"', 'attributes["http.method"] == "GET"']`, plain, policy.Sampled},
		{"resource path", `span: ['resource.attributes["service.name"] == "checkout"']`, resource, policy.Sampled},
		{"converter", `span: ['IsMatch(attributes["http.method"], "^PO")']`, post, policy.Sampled},
		{"spanevent match", `spanevent: ['name == "exception"']`, withEvent, policy.Sampled},
		{"spanevent no match", `spanevent: ['name == "panic"']`, withEvent, policy.NotSampled},
		{"span or spanevent", `{span: ['name == "nope"'], spanevent: ['name == "log"']}`, withEvent, policy.Sampled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block := tt.block
			if block[0] != '{' {
				block = "{" + block + "}"
			}
			p := mustPolicy(t, one(`{name: o, type: ottl_condition, ottl_condition: `+block+`}`), policy.Settings{})
			assert.Equal(t, tt.want, evalPolicy(t, p, tt.tr))
		})
	}
}

// A condition that fails at run time (Int of a non-numeric string):
// propagate (the default) returns the error; ignore logs and goes on to
// the next condition; silent goes on without a log.
func TestPolicyOTTLErrorModes(t *testing.T) {
	tr := buildTrace(testTraceID, spanSpec{attrs: map[string]any{"n": "abc", "ok": true}})
	conds := `['Int(attributes["n"]) > 1', 'attributes["ok"] == true']`
	for _, mode := range []string{"", "propagate", "ignore", "silent"} {
		t.Run("mode="+mode, func(t *testing.T) {
			core, logs := observer.New(zap.WarnLevel)
			set := policy.Settings{Telemetry: component.TelemetrySettings{Logger: zap.New(core)}}
			block := `{span: ` + conds + `}`
			if mode != "" {
				block = `{error_mode: ` + mode + `, span: ` + conds + `}`
			}
			p := mustPolicy(t, one(`{name: o, type: ottl_condition, ottl_condition: `+block+`}`), set)
			d, err := p.Evaluate(context.Background(), tr)
			switch mode {
			case "", "propagate":
				require.Error(t, err)
				assert.Equal(t, policy.Unspecified, d)
			default:
				require.NoError(t, err)
				assert.Equal(t, policy.Sampled, d)
				if mode == "silent" {
					assert.Zero(t, logs.Len())
				} else {
					assert.Positive(t, logs.Len())
				}
			}
		})
	}
}
