package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/examples/internal/dnsserver"
	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/examples/internal/workload"
	"github.com/tailgate-otel/tailgate/internal/testcert"
)

// Scale-event and crash scenarios. Every scenario is its own deployment
// on 127.0.<third>.x: gateways .2-.5 (OTLP 4317, handoff 4319,
// self-telemetry 8888), agents .10-.11, a DNS server standing in for the
// headless Service, a sink. Traffic: 8-span traces spread over ~3 s and
// over both agents, 1 in 50 with an error span (the last span).
const (
	scaleHostname     = "gateways.e2e.test"
	scaleDecisionWait = 5 * time.Second
	scaleRate         = 200 // traces/s
	scaleSpans        = 8
	scaleSpanGap      = 3 * time.Second / (scaleSpans - 1)
	// Longer than the resolvers' 1 s interval: a gateway removed from DNS is
	// known to be gone by every agent and gateway before it gets SIGTERM.
	scaleDNSLag = 2500 * time.Millisecond
)

// The seed configs' timings scaled to the scenarios, merged over the files
// with the distribution's yaml provider (the files themselves are unchanged).
var (
	gatewayOverrides = []string{
		"yaml:processors::tail_sampling::decision_wait: " + scaleDecisionWait.String(),
		"yaml:processors::batch::timeout: 200ms",
	}
	gatewayHandoffOverrides = append(slices.Clone(gatewayOverrides),
		"yaml:processors::tail_sampling::handoff::resolver::dns::interval: 1s")
	// Replication, its grace scaled with decision_wait (the gateways' batch
	// processor waits 200 ms here).
	gatewayReplicaOverrides = append(slices.Clone(gatewayHandoffOverrides),
		"yaml:processors::tail_sampling::handoff::replicate: true",
		"yaml:processors::tail_sampling::handoff::replica_grace: 1s")
	agentOverrides = []string{
		"yaml:processors::batch::timeout: 200ms",
		"yaml:exporters::loadbalancing::resolver::dns::interval: 1s",
	}
)

// agentConfigOverrides are the agents' --config additions for sc.
func agentConfigOverrides(sc scenario) []string {
	if !sc.failover {
		return agentOverrides
	}
	return append(slices.Clone(agentOverrides), "yaml:exporters::loadbalancing::failover::enabled: true")
}

type scaleEvent int

const (
	steady       scaleEvent = iota // 3 gateways throughout
	scaleUp                        // 3 → 4 a third of the way in
	scaleDown                      // 4 → 3: out of DNS, then SIGTERM
	rolling                        // each of 3 gateways: out of DNS, SIGTERM, restart on the same address, back in DNS
	freeze                         // gateway 2 SIGSTOPped for faultFreeze, then SIGCONT; it stays in DNS
	crashRestart                   // gateway 2 SIGKILLed, out of DNS at once; restarted on the same address faultRestart later, back in DNS
	nodeLoss                       // gateway 2 SIGKILLed, out of DNS at once, never back
)

func (e scaleEvent) String() string {
	return [...]string{"steady 3", "scale up 3→4", "scale down 4→3", "rolling restart ×3",
		"gateway frozen 15 s", "gateway killed, back 2 s later", "gateway killed, node lost"}[e]
}

func (e scaleEvent) crash() bool { return e == crashRestart || e == nodeLoss }

type scenario struct {
	event     scaleEvent
	handoff   bool
	replicate bool // handoff::replicate (implies handoff)
	third     int  // 127.0.<third>.x
	traffic   time.Duration
	seed      uint64
	gateways  int // at the start
	// Workload, when it differs from the scale scenarios' (rate scaleRate,
	// 1 error trace in 50, the first failed export ends the run).
	rate       int
	errorEvery int
	keepGoing  bool
	// failover turns on the agents' load_balancing failover (off in the
	// default agent config).
	failover bool
}

func (s scenario) name() string {
	switch {
	case s.replicate:
		return s.event.String() + ", replication on"
	case s.handoff && s.event.crash():
		return s.event.String() + ", replication off"
	case s.handoff:
		return s.event.String() + ", handoff on"
	}
	return s.event.String() + ", handoff off"
}

// outcome is what a scenario measured.
type outcome struct {
	sc      scenario
	sent    workload.Sent // what the application saw: failed exports, slowest call
	faultAt time.Time     // fault scenarios: when the fault began
	// buffered is the sum over agents of their buffer for the faulty
	// gateway (requests) just before it recovered.
	buffered float64
	score    workload.Score
	// incomplete maps the error traces that did not arrive whole to the
	// spans of theirs that did.
	incomplete map[int]int
	handoff    map[string]float64 // otelcol_processor_tail_sampling_{handoff,replica}_* summed over gateways
	losses     map[string]float64 // counted drops (see lossCounters), gateways and agents
	duplicates int                // spans delivered to the sink more than once
	spans      int                // spans delivered to the sink
	events     []string
	took       time.Duration
	err        error
	// With handoff: what an intruder got from a gateway's handoff port
	// (plaintext, no certificate), and the gateways' count of failed TLS
	// handshakes afterwards.
	intruderErr error
	refusedTLS  float64
}

// lossCounters are the counters that account for spans a process drops.
// An error trace of which no span reached the sink must be explained by
// one of them. Gateways stopped or killed mid-run are scraped just
// before, so drops during their own shutdown are not seen here (they
// would show in their logs).
var lossCounters = []string{
	"otelcol_processor_tail_sampling_forward_failed_spans",
	"otelcol_processor_tail_sampling_handoff_spans_dropped",
	"otelcol_processor_tail_sampling_traces_dropped_on_shutdown",
	"otelcol_processor_tail_sampling_traces_dropped_too_large",
	"otelcol_exporter_send_failed_spans",
}

// TestScaleEvents runs the scale-event scenarios (runScenarios) and then
// checks each in its own subtest.
func TestScaleEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("scale scenarios take about a minute")
	}
	checkScenarios(t, runScenarios(t, []scenario{
		{event: steady, handoff: true, third: 10, traffic: 10 * time.Second, seed: 10, gateways: 3},
		{event: scaleUp, handoff: true, third: 11, traffic: 12 * time.Second, seed: 11, gateways: 3},
		{event: scaleUp, handoff: false, third: 12, traffic: 12 * time.Second, seed: 12, gateways: 3},
		{event: scaleDown, handoff: true, third: 13, traffic: 12 * time.Second, seed: 13, gateways: 4},
		{event: scaleDown, handoff: false, third: 14, traffic: 12 * time.Second, seed: 14, gateways: 4},
		{event: rolling, handoff: true, third: 15, traffic: 24 * time.Second, seed: 15, gateways: 3},
	}))
}

// TestReplication runs the same scale events with handoff::replicate, and
// gateways killed without warning, with replication and without.
func TestReplication(t *testing.T) {
	if testing.Short() {
		t.Skip("replication scenarios take about a minute and a half")
	}
	checkScenarios(t, runScenarios(t, []scenario{
		{event: steady, replicate: true, third: 131, traffic: 10 * time.Second, seed: 20, gateways: 3},
		{event: scaleUp, replicate: true, third: 132, traffic: 12 * time.Second, seed: 21, gateways: 3},
		{event: scaleDown, replicate: true, third: 133, traffic: 12 * time.Second, seed: 22, gateways: 4},
		{event: rolling, replicate: true, third: 134, traffic: 24 * time.Second, seed: 23, gateways: 3},
		{event: crashRestart, replicate: true, third: 135, traffic: 12 * time.Second, seed: 24, gateways: 3},
		{event: crashRestart, handoff: true, third: 136, traffic: 12 * time.Second, seed: 25, gateways: 3},
		{event: nodeLoss, replicate: true, third: 137, traffic: 12 * time.Second, seed: 26, gateways: 3},
		{event: nodeLoss, handoff: true, third: 138, traffic: 12 * time.Second, seed: 27, gateways: 3},
	}))
}

// runScenarios runs the scenarios whose name contains
// $TAILGATE_E2E_SCENARIOS (all when unset) as goroutines (-parallel
// would cap them at GOMAXPROCS), four at a time, and returns their
// outcomes in order.
func runScenarios(t *testing.T, scenarios []scenario) []outcome {
	if only := os.Getenv("TAILGATE_E2E_SCENARIOS"); only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(sc scenario) bool { return !strings.Contains(sc.name(), only) })
		if len(scenarios) == 0 {
			t.Skipf("no scenario matches TAILGATE_E2E_SCENARIOS=%q", only)
		}
	}
	collectorBinary(t)
	useHandoffTLS(t)
	results := make([]outcome, len(scenarios))
	var wg sync.WaitGroup
	// At most four deployments (five processes each) at once: more, and
	// two cores decide traces seconds late, which is the machine's limit,
	// not the scenario's.
	slots := make(chan struct{}, 4)
	for i, sc := range scenarios {
		if sc.replicate {
			scenarios[i].handoff = true
			sc.handoff = true
		}
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			results[i] = runScenario(t, sc)
		})
	}
	wg.Wait()
	return results
}

// checkScenarios logs the results as a table and checks each in its own
// subtest.
func checkScenarios(t *testing.T, results []outcome) {
	t.Log("\n" + scaleTable(results))
	for _, r := range results {
		t.Run(r.sc.name(), func(t *testing.T) { checkOutcome(t, r) })
	}
}

func checkOutcome(t *testing.T, r outcome) {
	require.NoError(t, r.err)
	s := r.score
	require.Positive(t, s.Errors.Sent)
	for _, e := range r.events {
		t.Log(e)
	}
	crashNoReplica := r.sc.event.crash() && !r.sc.replicate
	if !crashNoReplica {
		// No silent loss: an error trace of which nothing reached the
		// backend was dropped by someone who counted it.
		var counted float64
		for _, v := range r.losses {
			counted += v
		}
		if s.Errors.Missing > 0 {
			assert.Positive(t, counted, "%d error traces missing entirely and no process counted a drop (%v)", s.Errors.Missing, r.losses)
		}
	}
	if !r.sc.handoff || crashNoReplica {
		return // the comparisons: reported, not asserted
	}
	assert.Error(t, r.intruderErr, "a plaintext client is refused by the handoff listener")
	assert.GreaterOrEqual(t, r.refusedTLS, 1.0, "and counted (handoff_refused{reason=tls_handshake})")
	if !r.sc.event.crash() {
		assert.Zero(t, r.handoff["otelcol_processor_tail_sampling_handoff_failures"], "every handoff between gateways went through mutual TLS")
		if r.sc.event != steady {
			assert.Positive(t, r.handoff["otelcol_processor_tail_sampling_handoff_traces_received"], "traces were handed off")
		}
	}
	if r.sc.replicate && !r.sc.event.crash() {
		assert.LessOrEqual(t, float64(r.duplicates)/float64(max(r.spans, 1)), 0.001, "≤ 0.1 %% duplicate spans at the sink (%d of %d)", r.duplicates, r.spans)
	}
	if r.sc.event == steady {
		assert.Equal(t, s.Errors.Sent, s.Errors.Complete, "steady state: every error trace complete")
		assert.Zero(t, s.Split(), "steady state: no trace split")
		assert.Zero(t, s.Errors.Partial+s.Others.Partial+s.Slow.Partial, "steady state: every trace that arrives is complete")
		return
	}
	// ≥ 99.9 % of error traces complete: below 1000 error traces that is
	// every one of them.
	if s.Errors.Sent < 1000 {
		assert.Equal(t, s.Errors.Sent, s.Errors.Complete, "every error trace complete (%d < 1000 sent)", s.Errors.Sent)
	} else {
		assert.GreaterOrEqual(t, float64(s.Errors.Complete)/float64(s.Errors.Sent), 0.999, "≥ 99.9 %% of error traces complete")
	}
	assert.LessOrEqual(t, float64(s.Split())/float64(s.Traces), 0.001, "≤ 0.1 %% of traces split")
}

// tlsDir holds the handoff's certificate (ca.crt, tls.crt, tls.key).
var tlsDir string

// useHandoffTLS makes the certificate the gateways' handoff runs over
// mutual TLS with, as the cert-manager example makes it
// (gateway-config.loopback-handoff.yaml reads HANDOFF_TLS_DIR), for the
// scenarios of test t.
func useHandoffTLS(t *testing.T) {
	tlsDir = t.TempDir()
	require.NoError(t, testcert.SecretDir(tlsDir, []string{"gateway-collector-handoff.observability.svc"}, nil))
}

// intrude sends a well-formed OTLP request in plaintext to a gateway's
// handoff listener, as any pod of the cluster could without the
// NetworkPolicy, and returns the error it got.
func intrude(ctx context.Context, addr string) error {
	snd := wire.NewSender()
	defer snd.Close()
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetTraceID(pcommon.TraceID{1})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return snd.Send(ctx, addr, td)
}

// scaleTable renders the results as the README's table.
func scaleTable(rs []outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | handoff | replication | traces | error traces | complete | partial | missing | split (all traces) | duplicate spans | slowest app export | handoff: traces sent · received · spans forwarded · decisions sent · failures | replica: promoted · orphans · exported · duplicates possible | took |\n")
	fmt.Fprintf(&b, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|\n")
	for _, r := range rs {
		if r.err != nil {
			fmt.Fprintf(&b, "| %s | %s | %s | error: %v |\n", r.sc.event, onOff(r.sc.handoff), onOff(r.sc.replicate), r.err)
			continue
		}
		s := r.score
		ho, rep := "-", "-"
		m := func(name string) float64 { return r.handoff["otelcol_processor_tail_sampling_"+name] }
		if r.sc.handoff {
			ho = fmt.Sprintf("%.0f · %.0f · %.0f · %.0f · %.0f", m("handoff_traces_sent"), m("handoff_traces_received"),
				m("handoff_spans_forwarded"), m("handoff_decisions_sent"), m("handoff_failures"))
		}
		if r.sc.replicate {
			rep = fmt.Sprintf("%.0f · %.0f · %.0f · %.0f", m("replica_promoted"), m("replica_orphans"), m("replica_exported"), m("replica_duplicates_possible"))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d (%s) | %d | %d | %d (%s) | %d (%s) | %v | %s | %s | %v |\n",
			r.sc.event, onOff(r.sc.handoff), onOff(r.sc.replicate), s.Traces, s.Errors.Sent, s.Errors.Complete, pct(s.Errors.Complete, s.Errors.Sent),
			s.Errors.Partial, s.Errors.Missing, s.Split(), pct(s.Split(), s.Traces), r.duplicates, pct(r.duplicates, r.spans),
			r.sent.Slowest().Round(time.Millisecond), ho, rep, r.took.Round(time.Second))
	}
	return b.String()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func pct(n, of int) string {
	if of == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 2, 64) + " %"
}

// deployment is one scenario's processes and addresses.
type deployment struct {
	t     *testing.T
	sc    scenario
	sink  *wire.Sink
	dns   *dnsserver.Server
	start time.Time

	mu         sync.Mutex
	gateways   map[int]*process // by host index 1..4
	agents     []*process
	events     []string
	metrics    map[string]float64 // handoff and replica counters of gateways already stopped
	losses     map[string]float64 // loss counters of gateways already stopped
	refusedTLS float64            // handoff_refused{reason=tls_handshake} of gateways scraped
	faultAt    time.Time          // when the fault scenario's fault began
	buffered   float64            // what the agents buffered for the faulty gateway, at its worst
}

func (d *deployment) host(last int) string     { return fmt.Sprintf("127.0.%d.%d", d.sc.third, last) }
func (d *deployment) gatewayHost(i int) string { return d.host(1 + i) } // 1 → .2
func (d *deployment) agentHost(i int) string   { return d.host(9 + i) } // 1 → .10

func (d *deployment) event(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, fmt.Sprintf("%6.1fs  ", time.Since(d.start).Seconds())+fmt.Sprintf(format, args...))
}

// publish makes the DNS name list exactly the gateways in the map.
func (d *deployment) publish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	var addrs []netip.Addr
	for i := range d.gateways {
		addrs = append(addrs, netip.MustParseAddr(d.gatewayHost(i)))
	}
	sort.Slice(addrs, func(a, b int) bool { return addrs[a].Less(addrs[b]) })
	d.dns.Set(scaleHostname, addrs...)
}

func (d *deployment) startGateway(i, generation int) (*process, error) {
	config, extra := "gateway-config.loopback.yaml", gatewayOverrides
	switch {
	case d.sc.replicate:
		config, extra = "gateway-config.loopback-handoff.yaml", gatewayReplicaOverrides
	case d.sc.handoff:
		config, extra = "gateway-config.loopback-handoff.yaml", gatewayHandoffOverrides
	}
	p, err := launch(d.t, fmt.Sprintf("s%d-gateway-%d.%d", d.sc.third, i, generation), config, map[string]string{
		"GATEWAY_HOST":     d.gatewayHost(i),
		"BACKEND_ENDPOINT": d.sink.Addr(),
		"GATEWAY_HOSTNAME": scaleHostname,
		"DNS_NAMESERVER":   d.dns.Addr(),
		"HANDOFF_TLS_DIR":  tlsDir,
	}, extra)
	if err != nil {
		return nil, err
	}
	ports := []string{"4317"}
	if d.sc.handoff {
		ports = append(ports, "4319")
	}
	for _, port := range ports {
		if err := listening(p, d.gatewayHost(i)+":"+port, 30*time.Second); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// stopGateway takes gateway i out of DNS, waits for every resolver to
// notice, then sends SIGTERM and waits for the process to exit, as a
// Kubernetes pod with a preStop sleep is stopped.
func (d *deployment) stopGateway(ctx context.Context, i int) error {
	d.mu.Lock()
	p := d.gateways[i]
	delete(d.gateways, i)
	d.mu.Unlock()
	d.publish()
	d.event("gateway %s out of DNS", d.gatewayHost(i))
	if !sleepCtx(ctx, scaleDNSLag) {
		return ctx.Err()
	}
	// Its counters before it drains (the drain itself shows on the receivers).
	d.scrapeGateway(ctx, i)
	began := time.Now()
	if err := p.stop(40 * time.Second); err != nil {
		return err
	}
	d.event("gateway %s SIGTERM → exited in %v", d.gatewayHost(i), time.Since(began).Round(10*time.Millisecond))
	return nil
}

// scrapeGateway adds gateway i's handoff, replica and loss counters to
// the deployment's (for a gateway about to stop).
func (d *deployment) scrapeGateway(ctx context.Context, i int) {
	m, err := scrape(ctx, "http://"+d.gatewayHost(i)+":8888/metrics", "otelcol_")
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refusedTLS += sumWith(m, "otelcol_processor_tail_sampling_handoff_refused", `reason="tls_handshake"`)
	addFamilies(d.metrics, only(m, "otelcol_processor_tail_sampling_handoff_", "otelcol_processor_tail_sampling_replica_"))
	addFamilies(d.losses, only(m, lossCounters...))
}

// only keeps the samples whose name starts with one of prefixes.
func only(m map[string]float64, prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
				break
			}
		}
	}
	return out
}

// killGateway kills gateway i (SIGKILL: no drain, no goodbye) and takes it
// out of DNS at once, as a node that dies or an OOM kill does.
func (d *deployment) killGateway(i int) error {
	d.mu.Lock()
	p := d.gateways[i]
	delete(d.gateways, i)
	d.mu.Unlock()
	if err := p.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	d.markFault()
	d.publish()
	<-p.done
	d.event("gateway %s SIGKILL, out of DNS", d.gatewayHost(i))
	return nil
}

func (d *deployment) addGateway(i, generation int) error {
	p, err := d.startGateway(i, generation)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.gateways[i] = p
	d.mu.Unlock()
	d.publish()
	d.event("gateway %s started and in DNS", d.gatewayHost(i))
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitDecided waits until no running gateway holds an undecided trace
// (otelcol_processor_tail_sampling_sampling_traces_on_memory is 0 on all).
func (d *deployment) waitDecided(ctx context.Context, within time.Duration) error {
	const pending = "otelcol_processor_tail_sampling_sampling_traces_on_memory"
	deadline := time.Now().Add(within)
	for {
		d.mu.Lock()
		hosts := make([]string, 0, len(d.gateways))
		for i := range d.gateways {
			hosts = append(hosts, d.gatewayHost(i))
		}
		d.mu.Unlock()
		var held float64
		var err error
		for _, h := range hosts {
			m, serr := scrape(ctx, "http://"+h+":8888/metrics", pending)
			if serr != nil {
				err = serr
				break
			}
			held += sum(m, pending)
		}
		if err == nil && held == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gateways still hold %v traces after %v (scrape error: %v)", held, within, err)
		}
		if !sleepCtx(ctx, 250*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// addFamilies adds samples into dst by metric family (labels dropped, a
// _total suffix removed).
func addFamilies(dst, samples map[string]float64) {
	for k, v := range samples {
		name := strings.TrimSuffix(strings.SplitN(k, "{", 2)[0], "_total")
		dst[name] += v
	}
}

func runScenario(t *testing.T, sc scenario) (out outcome) {
	out.sc = sc
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := &deployment{t: t, sc: sc, start: began, gateways: map[int]*process{}, metrics: map[string]float64{}, losses: map[string]float64{}}
	defer func() {
		out.took = time.Since(began)
		d.mu.Lock()
		out.events = d.events
		out.faultAt, out.buffered = d.faultAt, d.buffered
		d.mu.Unlock()
	}()
	var err error
	if d.sink, err = wire.StartSink("127.0.0.1:0"); err != nil {
		out.err = err
		return out
	}
	t.Cleanup(d.sink.Stop)
	if d.dns, err = dnsserver.Start("127.0.0.1:0"); err != nil {
		out.err = err
		return out
	}
	t.Cleanup(d.dns.Stop)

	for i := 1; i <= sc.gateways; i++ {
		p, err := d.startGateway(i, 1)
		if err != nil {
			out.err = err
			return out
		}
		d.gateways[i] = p
	}
	d.publish()
	var agentAddrs []string
	for i := 1; i <= 2; i++ {
		p, err := launch(t, fmt.Sprintf("s%d-agent-%d", sc.third, i), "agent-config.loopback-dns.yaml", map[string]string{
			"AGENT_HOST":       d.agentHost(i),
			"GATEWAY_HOSTNAME": scaleHostname,
			"DNS_NAMESERVER":   d.dns.Addr(),
		}, agentConfigOverrides(sc))
		if err != nil {
			out.err = err
			return out
		}
		d.agents = append(d.agents, p)
		agentAddrs = append(agentAddrs, d.agentHost(i)+":4317")
		if out.err = listening(p, agentAddrs[i-1], 30*time.Second); out.err != nil {
			return out
		}
	}
	// Every agent (and, with handoff, every gateway) knows the whole set
	// before traffic starts.
	watchers := slices.Clone(agentAddrs)
	if sc.handoff {
		for i := range d.gateways {
			watchers = append(watchers, d.gatewayHost(i)+":4317")
		}
	}
	for _, w := range watchers {
		host := strings.TrimSuffix(w, ":4317")
		deadline := time.Now().Add(30 * time.Second)
		for {
			m, err := scrape(ctx, "http://"+host+":8888/metrics", "otelcol_loadbalancer_num_backends")
			if err == nil && sum(m, "otelcol_loadbalancer_num_backends") == float64(sc.gateways) {
				break
			}
			if time.Now().After(deadline) {
				out.err = fmt.Errorf("%s does not see %d gateways (last: %v, %v)", host, sc.gateways, m, err)
				return out
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	d.event("%d gateways, 2 agents ready; traffic starts", sc.gateways)

	snd := wire.NewSender()
	defer snd.Close()
	plan := workload.Plan{Rate: scaleRate, Duration: sc.traffic, SpansPerTrace: scaleSpans, SpanGap: scaleSpanGap, Seed: sc.seed,
		ErrorEvery: sc.errorEvery, KeepGoing: sc.keepGoing}
	if sc.rate > 0 {
		plan.Rate = sc.rate
	}
	var (
		sent    workload.Sent
		playErr error
		wg      sync.WaitGroup
	)
	wg.Go(func() { sent, playErr = workload.Play(ctx, snd, plan, agentAddrs, nil) })

	var evErr error
	switch sc.event {
	case scaleUp:
		if sleepCtx(ctx, sc.traffic/3) {
			evErr = d.addGateway(4, 1)
		}
	case scaleDown:
		if sleepCtx(ctx, sc.traffic/3) {
			evErr = d.stopGateway(ctx, 4)
		}
	case freeze:
		if sleepCtx(ctx, sc.traffic/3) {
			evErr = d.freezeGateway(ctx, 2)
		}
	case crashRestart:
		if sleepCtx(ctx, sc.traffic/3) {
			evErr = d.crashGateway(ctx, 2)
		}
	case nodeLoss:
		if sleepCtx(ctx, sc.traffic/3) {
			evErr = d.killGateway(2)
		}
	case rolling:
		if !sleepCtx(ctx, 2*time.Second) {
			break
		}
		for i := 1; i <= 3 && evErr == nil; i++ {
			if evErr = d.stopGateway(ctx, i); evErr == nil {
				evErr = d.addGateway(i, 2)
			}
			if evErr == nil && !sleepCtx(ctx, 1500*time.Millisecond) {
				evErr = ctx.Err()
			}
		}
	}
	wg.Wait()
	out.sent = sent
	if out.err = errors.Join(playErr, evErr); out.err != nil {
		return out
	}
	d.event("traffic done: %d traces, %d spans", sent.Spec.Traces, sent.Spans)

	// Decided decision_wait after first seen, then a 200 ms batch: wait for
	// that, then until no gateway holds a trace (a starved machine delays
	// decisions), then for a quiet sink.
	if !sleepCtx(ctx, time.Until(sent.Last.Add(scaleDecisionWait+2*time.Second))) {
		out.err = ctx.Err()
		return out
	}
	if out.err = d.waitDecided(ctx, time.Minute); out.err != nil {
		return out
	}
	if out.err = d.sink.WaitQuiet(ctx, 2*time.Second); out.err != nil {
		return out
	}
	out.score = workload.Evaluate(sent, d.sink)
	distinct, delivered := d.sink.Spans()
	out.spans, out.duplicates = delivered, delivered-distinct
	out.incomplete = workload.IncompleteErrors(sent, d.sink)

	// Counters of the gateways still running and of the agents, then a
	// clean stop.
	d.mu.Lock()
	running := make(map[int]*process, len(d.gateways))
	for i, p := range d.gateways {
		running[i] = p
	}
	d.mu.Unlock()
	if sc.handoff {
		for i := range running {
			out.intruderErr = intrude(ctx, d.gatewayHost(i)+":4319")
			break
		}
	}
	for i := range running {
		d.scrapeGateway(ctx, i)
	}
	for i := 1; i <= 2; i++ {
		if m, err := scrape(ctx, "http://"+d.agentHost(i)+":8888/metrics", "otelcol_"); err == nil {
			addFamilies(d.losses, only(m, lossCounters...))
		}
	}
	out.handoff, out.losses, out.refusedTLS = d.metrics, d.losses, d.refusedTLS
	var stopErrs []error
	for _, p := range d.agents {
		stopErrs = append(stopErrs, p.stop(30*time.Second))
	}
	for _, p := range running {
		stopErrs = append(stopErrs, p.stop(40*time.Second))
	}
	out.err = errors.Join(stopErrs...)
	d.event("all stopped")
	return out
}
