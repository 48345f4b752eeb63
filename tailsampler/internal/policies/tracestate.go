package policies

import (
	"context"
	"errors"
	"strings"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

type traceStatePolicy struct {
	policy.SpansOnly
	key    string
	values map[string]struct{}
}

func newTraceStatePolicy(_ policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
	var cfg TraceStateCfg
	if err := decodeBlock(conf, &cfg); err != nil {
		return nil, err
	}
	errs := checkKeyValues(cfg.Key, cfg.Values)
	p := &traceStatePolicy{key: cfg.Key, values: make(map[string]struct{}, len(cfg.Values))}
	for _, v := range cfg.Values {
		// A list member (key=value) is at most 256 characters in W3C
		// tracestate; longer values can never match, as upstream notes.
		if v != "" && len(cfg.Key)+len(v) < 256 {
			p.values[v] = struct{}{}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// matchSpan scans the raw tracestate in place (comma-separated key=value
// members, optional blanks around them) instead of parsing it into a
// structure: no allocation per span.
func (p *traceStatePolicy) MatchSpan(span ptrace.Span) bool {
	raw := span.TraceState().AsRaw()
	for raw != "" {
		member := raw
		if i := strings.IndexByte(raw, ','); i >= 0 {
			member, raw = raw[:i], raw[i+1:]
		} else {
			raw = ""
		}
		member = strings.Trim(member, " \t")
		eq := strings.IndexByte(member, '=')
		if eq <= 0 || member[:eq] != p.key {
			continue
		}
		_, ok := p.values[member[eq+1:]]
		return ok
	}
	return false
}

func (p *traceStatePolicy) Evaluate(_ context.Context, t policy.Trace) (policy.Decision, error) {
	return boolDecision(policy.AnyMatch(t, p)), nil
}
