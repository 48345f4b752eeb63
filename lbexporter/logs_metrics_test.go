package lbexporter

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/tailgate-otel/tailgate/hashring"
)

func TestLogsRouting(t *testing.T) {
	eps := endpoints(4)
	ring := hashring.New(eps)
	mk := func() plog.Logs {
		ld := plog.NewLogs()
		for r := range 3 {
			rl := ld.ResourceLogs().AppendEmpty()
			if r < 2 {
				rl.Resource().Attributes().PutStr("service.name", fmt.Sprint("svc-", r))
			}
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			for i := range 20 {
				lr := lrs.AppendEmpty()
				if i%5 != 0 {
					lr.SetTraceID(pcommon.TraceID{byte(r), byte(i), 7})
				}
				lr.Body().SetStr(fmt.Sprint(r, "/", i))
			}
		}
		return ld
	}
	for _, key := range []string{RoutingService, RoutingTraceID, RoutingResource} {
		t.Run(key, func(t *testing.T) {
			env := newTestEnv(eps...)
			l := newMemLogs(t, env, testConfig(func(c *Config) { c.RoutingKey = key }))
			pushFlush(t, l, mk())
			total := 0
			env.sinks.mu.Lock()
			defer env.sinks.mu.Unlock()
			for ep, s := range env.sinks.m {
				for _, ld := range s.logs {
					for _, rl := range ld.ResourceLogs().All() {
						for _, sl := range rl.ScopeLogs().All() {
							for _, lr := range sl.LogRecords().All() {
								total++
								svc, _ := serviceKey(nil, rl.Resource())
								var want string
								switch key {
								case RoutingService:
									want = ring.Get(svc)
								case RoutingResource:
									want = ring.Get(appendSortedMap(nil, rl.Resource().Attributes(), new([]string)))
								default:
									if tid := lr.TraceID(); !tid.IsEmpty() {
										want = ring.Get(tid[:])
									} else {
										want = ring.Get(svc)
									}
								}
								assert.Equal(t, want, ep, lr.Body().Str())
							}
						}
					}
				}
			}
			assert.Equal(t, 60, total)
		})
	}
}

func TestMetricsRouting(t *testing.T) {
	eps := endpoints(5)
	ring := hashring.New(eps)
	for _, key := range []string{RoutingService, RoutingResource, RoutingMetric, RoutingStreamID, RoutingAttributes} {
		t.Run(key, func(t *testing.T) {
			env := newTestEnv(eps...)
			l := newMemMetrics(t, env, testConfig(func(c *Config) {
				c.RoutingKey = key
				if key == RoutingAttributes {
					c.RoutingAttributes = []string{"k"}
				}
			}))
			in := sampleMetrics()
			want := in.DataPointCount()
			pushFlush(t, l, in)
			total := 0
			byStream := map[string]string{}
			env.sinks.mu.Lock()
			defer env.sinks.mu.Unlock()
			for ep, s := range env.sinks.m {
				for _, md := range s.metrics {
					for _, rm := range md.ResourceMetrics().All() {
						for _, sm := range rm.ScopeMetrics().All() {
							for _, m := range sm.Metrics().All() {
								for k := range dataPointLen(m) {
									total++
									attrs := dataPointAttrs(m, k)
									var exp string
									switch key {
									case RoutingService:
										svc, _ := serviceKey(nil, rm.Resource())
										exp = ring.Get(svc)
									case RoutingMetric:
										exp = ring.Get([]byte(m.Name()))
									case RoutingAttributes:
										v, ok := attrs.Get("k")
										exp = ring.Get(appendNamed(nil, "k", v, ok))
									default:
										exp = ep // checked by consistency below
									}
									assert.Equal(t, exp, ep)
									id := fmt.Sprint(rm.Resource().Attributes().AsRaw(), m.Name(), attrs.AsRaw())
									if prev, ok := byStream[id]; ok {
										assert.Equal(t, prev, ep, "one stream, one endpoint")
									}
									byStream[id] = ep
									assert.NotEqual(t, pmetric.MetricTypeEmpty, m.Type())
								}
							}
						}
					}
				}
			}
			assert.Equal(t, want, total)
			if key == RoutingStreamID {
				assert.Greater(t, len(env.sinks.m), 1, "streams spread")
			}
		})
	}
}
