package policies

import (
	"context"
	"strings"
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

// Conditions are bounded before the OTTL parser sees them: its time grows
// steeply with nesting (1000 nested parentheses parse in seconds, 3000 in
// over a minute on the development machine).
func TestPolicyOTTLBounds(t *testing.T) {
	nested := func(n int) string { return strings.Repeat("(", n) + "true" + strings.Repeat(")", n) }
	many := make([]string, maxOTTLConditions+1)
	for i := range many {
		many[i] = "'true'"
	}
	tests := []struct {
		name    string
		span    string
		wantErr string
	}{
		{"nesting at the bound", "'" + nested(maxOTTLNesting) + "'", ""},
		{"brackets in strings do not count", `'attributes["` + strings.Repeat("(", 100) + `"] == "\"[[["'`, ""},
		{"nesting over the bound", "'" + nested(maxOTTLNesting+1) + "'", "span[0]: nested 33 deep, more than 32"},
		{"pathological nesting refused at once", "'" + nested(3000) + "'", "span[0]: nested 3000 deep"},
		{"mixed brackets", `'Len(Concat([` + strings.Repeat(`Concat([`, maxOTTLNesting) + `"a"` + strings.Repeat(`], "")`, maxOTTLNesting) + `], "")) > 0'`, "span[0]: nested 67 deep"},
		{"too long", "'" + strings.Repeat("true and ", maxOTTLConditionBytes/9+1) + "true'", "span[0]: 8203 bytes, longer than 8192"},
		{"too many", "[" + strings.Join(many, ", ") + "]", "span: 257 conditions, more than 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			span := tt.span
			if span[0] != '[' {
				span = "[" + span + "]"
			}
			cfgs, err := loadPolicies(t, one(`{name: o, type: ottl_condition, ottl_condition: {span: `+span+`}}`))
			require.NoError(t, err)
			// The 3000-deep case would keep the parser busy for over a
			// minute: it is refused before parsing.
			_, err = buildPolicy(&cfgs[0], "policies[0]", bindRegistry(Builtin()), normalizeSettings(policy.Settings{}))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
