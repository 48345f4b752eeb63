package spanmetrics_test

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/spanmetrics"
)

// Building the connector by hand, as an in-process gateway would, with the
// seed article's configuration; Shutdown flushes what was aggregated.
func Example() {
	f := spanmetrics.NewFactory()
	cfg := f.CreateDefaultConfig().(*spanmetrics.Config)
	cfg.Histogram.Explicit = &spanmetrics.ExplicitHistogramConfig{Buckets: []time.Duration{
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second}}
	cfg.Dimensions = []spanmetrics.Dimension{{Name: "http.method"}, {Name: "http.status_code"}}

	sink := new(consumertest.MetricsSink)
	set := connectortest.NewNopSettings(f.Type())
	conn, err := f.CreateTracesToMetrics(context.Background(), set, cfg, sink)
	if err != nil {
		panic(err)
	}
	_ = conn.Start(context.Background(), component.Host(nil))

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("GET /cart")
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetStartTimestamp(pcommon.Timestamp(0))
	sp.SetEndTimestamp(pcommon.Timestamp(120 * time.Millisecond))
	sp.Attributes().PutStr("http.method", "GET")
	sp.Attributes().PutInt("http.status_code", 200)
	_ = conn.ConsumeTraces(context.Background(), td)
	_ = conn.Shutdown(context.Background())

	ms := sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		fmt.Printf("%s %q\n", ms.At(i).Name(), ms.At(i).Unit())
	}
	calls := ms.At(0).Sum().DataPoints().At(0)
	kind, _ := calls.Attributes().Get("span.kind")
	fmt.Println(calls.IntValue(), kind.Str())
	fmt.Println(ms.At(1).Histogram().DataPoints().At(0).BucketCounts().AsRaw())
	// Output:
	// traces.span.metrics.calls ""
	// traces.span.metrics.duration "ms"
	// 1 SPAN_KIND_SERVER
	// [0 1 0 0 0 0]
}
