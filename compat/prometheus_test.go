package compat

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/spanmetrics"
)

// TestIntAndStringStatusCodeOneLabelSetInPrometheus sends 10 spans with
// http.status_code=200 (int) and 10 with "200" (string) through our
// span_metrics connector into upstream's prometheus exporter, scrapes it
// over HTTP on loopback, and finds one label set counting all 20: the two
// values are one series (upstream merges them too). Kept apart, they
// became one label set in which one of them silently won (10).
func TestIntAndStringStatusCodeOneLabelSetInPrometheus(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	pf := prometheusexporter.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*prometheusexporter.Config)
	pcfg.ServerConfig.NetAddr.Endpoint = addr
	exp, err := pf.CreateMetrics(ctx, exportertest.NewNopSettings(pf.Type()), pcfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(ctx)) })

	sf := spanmetrics.NewFactory()
	scfg := sf.CreateDefaultConfig().(*spanmetrics.Config)
	scfg.Dimensions = []spanmetrics.Dimension{{Name: "http.status_code"}}
	scfg.MetricsFlushInterval = 100 * time.Millisecond
	conn, err := sf.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(sf.Type()), scfg, exp)
	require.NoError(t, err)
	require.NoError(t, conn.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, conn.Shutdown(ctx)) })

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < 20; i++ {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(i + 1)})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		sp.SetName("lets-go")
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(time.Millisecond)))
		if i%2 == 0 {
			sp.Attributes().PutInt("http.status_code", 200)
		} else {
			sp.Attributes().PutStr("http.status_code", "200")
		}
	}
	require.NoError(t, conn.ConsumeTraces(ctx, td))

	line := regexp.MustCompile(`(?m)^traces_span_metrics_calls_total\{([^}]*)\} (\S+)$`)
	var last string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		last = string(body)
		matches := line.FindAllStringSubmatch(last, -1)
		if len(matches) != 1 {
			return false
		}
		v, err := strconv.ParseFloat(matches[0][2], 64)
		return err == nil && v == 20 && regexp.MustCompile(`http_status_code="200"`).MatchString(matches[0][1])
	}, 15*time.Second, 50*time.Millisecond, fmt.Sprintf("want one calls label set counting 20; last scrape:\n%s", last))
}
