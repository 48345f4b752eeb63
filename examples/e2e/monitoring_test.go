package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tailgate-otel/tailgate/examples/internal/dnsserver"
	"github.com/tailgate-otel/tailgate/examples/internal/promtest"
	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/examples/internal/workload"
	"github.com/tailgate-otel/tailgate/examples/monitoring"
	"github.com/tailgate-otel/tailgate/internal/testcert"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// The monitoring deployment, on 127.0.70.x: gateways .2-.4 (.4 joins during
// the traffic), a ring member .9 that does not exist, agents .10-.14. Each
// collector is set up so that the condition one alert watches really
// happens; Prometheus scrapes all of them.
const (
	monThird        = 70
	monGateways     = "gateways.monitoring.test"
	monFirstGateway = "gateway-1.monitoring.test"
	monDecisionWait = 2 * time.Second
)

var (
	monGatewayOverrides = []string{
		"yaml:processors::tail_sampling::decision_wait: " + monDecisionWait.String(),
		"yaml:processors::tail_sampling::num_traces: 40", // early decisions
		"yaml:processors::tail_sampling::handoff::resolver::dns::interval: 1s",
		"yaml:processors::batch::timeout: 200ms",
		"yaml:connectors::spanmetrics::aggregation_cardinality_limit: 2", // overflow
		"yaml:connectors::spanmetrics::metrics_flush_interval: 1s",
	}
	// Failover as examples/README.md recommends it: per-endpoint retries
	// off, so that a refusing gateway counts as failed at once, and the
	// exporter's own queue and retries in front of the ring.
	monAgentOverrides = []string{
		"yaml:processors::batch::timeout: 200ms",
		"yaml:exporters::loadbalancing::resolver::dns::interval: 1s",
		"yaml:exporters::loadbalancing::failover::enabled: true",
		"yaml:exporters::loadbalancing::protocol::otlp::retry_on_failure::enabled: false",
		"yaml:exporters::loadbalancing::retry_on_failure::enabled: true",
		"yaml:exporters::loadbalancing::sending_queue::enabled: true",
	}
)

func monHost(last int) string { return fmt.Sprintf("127.0.%d.%d", monThird, last) }

// monAgent is one agent of the deployment and what it is there to show.
type monAgent struct {
	name, why string
	last      int
	hostname  string            // GATEWAY_HOSTNAME
	dns       string            // DNS_NAMESERVER, "" = the test's server
	extra     []string          // more overrides
	side      bool              // gets side traffic (not the workload)
	env       map[string]string // set by the test
}

// TestMonitoring runs the distribution as agents and gateways whose
// conditions make every alert of examples/monitoring fire, scrapes them
// with a real Prometheus loaded with the shipped rules, and checks that
// every metric the rules and the dashboard use is scraped, that every rule
// evaluates without error, that every alert goes pending or firing, and
// that every dashboard query returns data.
func TestMonitoring(t *testing.T) {
	if testing.Short() {
		t.Skip("runs collectors and Prometheus for about a minute")
	}
	promtest.Binary(t, "prometheus")
	collectorBinary(t)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	sink, err := wire.StartSink("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(sink.Stop)
	dns, err := dnsserver.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(dns.Stop)
	setGateways := func(lasts ...int) {
		var addrs []netip.Addr
		for _, l := range lasts {
			addrs = append(addrs, netip.MustParseAddr(monHost(l)))
		}
		dns.Set(monGateways, addrs...)
	}
	setGateways(2, 3)
	dns.Set(monFirstGateway, netip.MustParseAddr(monHost(2)))

	// Gateways .2 and .3 from the start, .4 started now and published later,
	// their handoff over mutual TLS as in TestScaleEvents.
	handoffTLS := t.TempDir()
	require.NoError(t, testcert.SecretDir(handoffTLS, []string{"gateway-collector-handoff.observability.svc"}, nil))
	var gateways []*process
	for _, last := range []int{2, 3, 4} {
		p, err := launch(t, fmt.Sprintf("mon-gateway-%d", last), "gateway-config.loopback-handoff.yaml", map[string]string{
			"GATEWAY_HOST":     monHost(last),
			"BACKEND_ENDPOINT": sink.Addr(),
			"GATEWAY_HOSTNAME": monGateways,
			"DNS_NAMESERVER":   dns.Addr(),
			"HANDOFF_TLS_DIR":  handoffTLS,
		}, monGatewayOverrides)
		require.NoError(t, err)
		gateways = append(gateways, p)
	}
	for i, p := range gateways {
		for _, port := range []string{"4317", "4319", "8888"} {
			require.NoError(t, listening(p, monHost(2+i)+":"+port, 30*time.Second))
		}
	}

	agents := []*monAgent{
		{name: "a1", last: 10, why: "workload; failover marks the missing ring member unhealthy"},
		{name: "a2", last: 11, why: "workload"},
		{name: "misfit", last: 12, hostname: monFirstGateway, side: true, why: "sees one gateway: the rings disagree; its spans reach the wrong gateway and are forwarded"},
		{name: "lost", last: 13, dns: "127.0.0.1:1", side: true, why: "its DNS server refuses: resolver failing, no endpoint, queue filling",
			extra: []string{"yaml:exporters::loadbalancing::sending_queue::queue_size: 10"}},
		{name: "starved", last: 14, side: true, why: "memory_limiter below the heap: refuses everything",
			extra: []string{"yaml:processors::memory_limiter::limit_mib: 1", "yaml:processors::memory_limiter::spike_limit_mib: 0"}},
	}
	var agentProcs []*process
	for _, a := range agents {
		a.env = map[string]string{"AGENT_HOST": monHost(a.last), "GATEWAY_HOSTNAME": monGateways, "DNS_NAMESERVER": dns.Addr()}
		if a.hostname != "" {
			a.env["GATEWAY_HOSTNAME"] = a.hostname
		}
		if a.dns != "" {
			a.env["DNS_NAMESERVER"] = a.dns
		}
		p, err := launch(t, "mon-agent-"+a.name, "agent-config.loopback-dns.yaml", a.env, append(slices.Clone(monAgentOverrides), a.extra...))
		require.NoError(t, err)
		agentProcs = append(agentProcs, p)
	}
	for i, p := range agentProcs {
		require.NoError(t, listening(p, monHost(agents[i].last)+":4317", 30*time.Second))
	}

	prom := startMonitoringPrometheus(t, agents)
	for _, a := range agents[:2] {
		require.Eventually(t, func() bool {
			m, err := scrape(ctx, "http://"+monHost(a.last)+":8888/metrics", "otelcol_loadbalancer_num_backends")
			return err == nil && sum(m, "otelcol_loadbalancer_num_backends") == 2
		}, 30*time.Second, 200*time.Millisecond, "agent %s sees the first two gateways", a.name)
	}
	t.Logf("deployment up in %v", time.Since(began).Round(time.Millisecond))

	// Traffic: the workload through a1 and a2; a trickle to the side
	// agents and one span without trace ID (routed by the fallback key).
	// A third of the way in, gateway .4 and a ring member that does not
	// exist (.9) join the gateway set.
	snd := wire.NewSender()
	defer snd.Close()
	plan := workload.Plan{Rate: 100, Duration: 10 * time.Second, SpansPerTrace: 5, SpanGap: 400 * time.Millisecond, Seed: 70}
	var (
		play, side sync.WaitGroup
		playErr    error
	)
	play.Go(func() {
		_, playErr = workload.Play(ctx, snd, plan, []string{monHost(10) + ":4317", monHost(11) + ":4317"}, nil)
	})
	// The trickle goes on until the checks are done, so that rates stay up.
	sideCtx, stopSide := context.WithCancel(ctx)
	side.Go(func() { sideTraffic(sideCtx, snd, agents) })
	defer func() {
		stopSide()
		side.Wait()
	}()
	noID := tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 1, Seed: 71})[0]
	noID.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID(pcommon.NewTraceIDEmpty())
	require.NoError(t, snd.Send(ctx, monHost(10)+":4317", noID))
	time.Sleep(plan.Duration / 3)
	setGateways(2, 3, 4, 9)
	time.Sleep(plan.Duration * 2 / 3)
	play.Wait()
	require.NoError(t, playErr)
	t.Logf("traffic done after %v", time.Since(began).Round(time.Millisecond))

	rules, err := monitoring.ParseRules(monitoring.RulesYAML)
	require.NoError(t, err)
	dash, err := monitoring.ParseDashboard(monitoring.DashboardJSON)
	require.NoError(t, err)
	used := map[string][]string{} // metric -> where it is used
	for _, r := range rules {
		for _, n := range monitoring.MetricNames(r.Expr) {
			used[n] = append(used[n], "rule "+r.Name)
		}
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range monitoring.MetricNames(tg.Expr) {
				used[n] = append(used[n], "panel "+p.Title)
			}
		}
	}
	for _, e := range dash.Exprs() {
		for _, n := range monitoring.MetricNames(e) {
			used[n] = append(used[n], "dashboard")
		}
	}

	// 1. Every metric (and recorded series) the rules and the dashboard use
	// is in what Prometheus scraped.
	missing := waitUntilNone(60*time.Second, func() ([]string, error) {
		names, err := prom.MetricNames(ctx)
		var out []string
		for n := range used {
			if !slices.Contains(names, n) {
				out = append(out, n)
			}
		}
		return out, err
	})
	for _, n := range missing {
		where := slices.Clone(used[n])
		slices.Sort(where)
		t.Errorf("%s is used by %v but Prometheus has no such series", n, slices.Compact(where))
	}
	t.Logf("%d metrics checked, %d missing, after %v", len(used), len(missing), time.Since(began).Round(time.Millisecond))

	// 2. Every rule evaluates.
	loaded, err := prom.Rules(ctx)
	require.NoError(t, err)
	assert.Len(t, loaded, len(rules), "every rule of the file is loaded")
	for _, r := range loaded {
		assert.Equal(t, "ok", r.Health, "rule %s: %s", r.Name, r.LastError)
	}

	// 3. Every alert goes pending (or fires, for: 0m) on the conditions
	// the deployment creates.
	var want []string
	for _, r := range rules {
		if r.Alert {
			want = append(want, r.Name)
		}
	}
	inactive := waitUntilNone(60*time.Second, func() ([]string, error) {
		alerts, err := prom.Alerts(ctx)
		var out []string
		for _, name := range want {
			if !slices.ContainsFunc(alerts, func(a promtest.Alert) bool {
				return a.Labels["alertname"] == name && (a.State == "pending" || a.State == "firing")
			}) {
				out = append(out, name)
			}
		}
		return out, err
	})
	assert.Empty(t, inactive, "alerts that never went pending or firing")
	alerts, err := prom.Alerts(ctx)
	require.NoError(t, err)
	for _, a := range alerts {
		t.Logf("alert %-36s %-8s %v", a.Labels["alertname"], a.State, alertLabels(a.Labels))
	}

	// 4. Every dashboard query returns data.
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n, err := prom.Query(ctx, monitoring.Instant(tg.Expr))
			if assert.NoError(t, err, "panel %q query %s", p.Title, tg.RefID) {
				assert.Positive(t, n, "panel %q query %s returns no series: %s", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
	t.Logf("checked in %v", time.Since(began).Round(time.Millisecond))

	stopSide()
	side.Wait()
	for _, p := range append(agentProcs, gateways...) {
		st := time.Now()
		p.terminate(t, 30*time.Second)
		t.Logf("%s stopped in %v", p.name, time.Since(st).Round(time.Millisecond))
	}
}

// startMonitoringPrometheus runs Prometheus with the shipped rules,
// scraping every collector's self-metrics and the gateways' span metrics
// every second.
func startMonitoringPrometheus(t *testing.T, agents []*monAgent) *promtest.Server {
	t.Helper()
	var self, spans []string
	for _, last := range []int{2, 3, 4} {
		self = append(self, fmt.Sprintf("%q", monHost(last)+":8888"))
		spans = append(spans, fmt.Sprintf("%q", monHost(last)+":8889"))
	}
	for _, a := range agents {
		self = append(self, fmt.Sprintf("%q", monHost(a.last)+":8888"))
	}
	return promtest.Start(t, func(string) string {
		return `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [` + monitoring.RulesFile + `]
scrape_configs:
  - job_name: tailgate
    static_configs: [{targets: [` + strings.Join(self, ", ") + `]}]
  - job_name: tailgate-span-metrics
    static_configs: [{targets: [` + strings.Join(spans, ", ") + `]}]
`
	}, map[string][]byte{monitoring.RulesFile: monitoring.RulesYAML})
}

// sideTraffic sends a small batch to every side agent every 200 ms until
// ctx ends; their refusals are the point, so errors are ignored.
func sideTraffic(ctx context.Context, snd *wire.Sender, agents []*monAgent) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		for _, a := range agents {
			if !a.side {
				continue
			}
			td := tracegen.Batches(tracegen.Spec{Traces: 10, SpansPerTrace: 2, Seed: uint64(1000*a.last + i)})[0]
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = snd.Send(sctx, a.env["AGENT_HOST"]+":4317", td)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func alertLabels(l map[string]string) string {
	var parts []string
	for _, k := range []string{"instance", "endpoint", "reason", "exporter", "resolver"} {
		if v, ok := l[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// waitUntilNone calls missing every second until it returns nothing
// without error or within passes, and returns what was still missing
// then, sorted (with the error, if the last call failed).
func waitUntilNone(within time.Duration, missing func() ([]string, error)) []string {
	deadline := time.Now().Add(within)
	for {
		m, err := missing()
		if err == nil && len(m) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				m = append(m, "(error: "+err.Error()+")")
			}
			slices.Sort(m)
			return m
		}
		time.Sleep(time.Second)
	}
}
