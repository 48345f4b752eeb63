package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tailgate-otel/tailgate/examples/internal/dnsserver"
	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/examples/internal/workload"
	"github.com/tailgate-otel/tailgate/internal/freeport"
)

// hostname is the demo's headless-Service name: its A records are the
// gateways that are up.
const hostname = "gateways.tailgate.demo"

const agents = 2

// settings are the demo's flags.
type settings struct {
	rate         int
	duration     time.Duration
	gateways     int
	decisionWait time.Duration
	spread       time.Duration
	errorEvery   int
	phases       []int
	logLevel     string
}

// phase is one act of the story.
type phase struct {
	num        int
	title      string
	roundRobin bool
	scale      bool
	handoff    bool // gateways run the tail sampler's handoff block
	crash      bool // a gateway is killed (SIGKILL): gateways run as processes
	replicate  bool // handoff::replicate
}

var allPhases = []phase{
	{num: 1, title: "agents without trace-ID routing (round robin over the gateways)", roundRobin: true},
	{num: 2, title: "agents with tailgate's load_balancing exporter (routing by trace ID)"},
	{num: 3, title: "load_balancing, and a gateway added then one removed mid-run", scale: true},
	{num: 4, title: "handoff, and a gateway killed without warning (SIGKILL) mid-run", handoff: true, crash: true},
}

// twin is the phase again with the feature it is about: phase 3 with the
// gateways' handoff block, phase 4 with replication; side by side in the
// summary.
func twin(p phase) (phase, bool) {
	switch {
	case p.scale:
		p.handoff = true
		p.title = "the same scale event, gateways with the tail sampler's handoff block"
		return p, true
	case p.crash:
		p.replicate = true
		p.title = "the same crash, gateways replicating every span to its ring successor (handoff::replicate)"
		return p, true
	}
	return p, false
}

// result is what a phase reports in the summary.
type result struct {
	phase  phase
	score  workload.Score
	calls  float64
	events []string
	took   time.Duration
}

// demo is the machinery shared by the phases.
type demo struct {
	s           settings
	outMu       sync.Mutex // progress and scale events print concurrently
	out         io.Writer
	dir         string
	sink        *wire.Sink
	dns         *dnsserver.Server
	gwPort      int
	handoffPort int
	agentPort   int
}

func gatewayHost(i int) string { return "127.0.0." + strconv.Itoa(10+i) }
func agentHost(i int) string   { return "127.0.0." + strconv.Itoa(200+i) }

func newDemo(s settings, out io.Writer) (*demo, error) {
	d := &demo{s: s, out: out}
	var err error
	if d.dir, err = os.MkdirTemp("", "tailgate-demo-"); err != nil {
		return nil, err
	}
	if d.sink, err = wire.StartSink("127.0.0.1:0"); err != nil {
		d.close()
		return nil, err
	}
	if d.dns, err = dnsserver.Start("127.0.0.1:0"); err != nil {
		d.close()
		return nil, err
	}
	var gws, ags []string
	for i := 1; i <= s.gateways+1; i++ { // +1: the gateway phase 3 adds
		gws = append(gws, gatewayHost(i))
	}
	for i := 1; i <= agents; i++ {
		ags = append(ags, agentHost(i))
	}
	if d.gwPort, err = freeport.Common(gws...); err != nil {
		d.close()
		return nil, err
	}
	if d.handoffPort, err = freeport.Common(gws...); err != nil {
		d.close()
		return nil, err
	}
	if d.handoffPort == d.gwPort {
		if d.handoffPort, err = freeport.Common(gws...); err != nil || d.handoffPort == d.gwPort {
			d.close()
			return nil, errors.Join(err, errors.New("no second port is free on every gateway address"))
		}
	}
	if d.agentPort, err = freeport.Common(ags...); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// label names the phase in the output: 3 and 3h (its handoff twin), 4
// and 4r (its replication twin).
func (p phase) label() string {
	switch {
	case p.replicate:
		return strconv.Itoa(p.num) + "r"
	case p.handoff && p.scale:
		return strconv.Itoa(p.num) + "h"
	}
	return strconv.Itoa(p.num)
}

// seed gives every phase its own trace IDs (the sink is shared).
func (p phase) seed() uint64 {
	s := uint64(p.num) * 1_000_003
	if p.handoff {
		s += 500_001
	}
	if p.replicate {
		s += 250_001
	}
	return s
}

func (d *demo) close() {
	if d.dns != nil {
		d.dns.Stop()
	}
	if d.sink != nil {
		d.sink.Stop()
	}
	_ = os.RemoveAll(d.dir)
}

func (d *demo) printf(format string, args ...any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// gateway is a running gateway: in this process, or a child process
// (crash phases: it can be killed).
type gateway interface {
	stop() error
}

func (d *demo) startGateway(ctx context.Context, p phase, i int) (gateway, error) {
	yaml, err := render(gatewayTmpl, gatewayParams{
		Listen:        net.JoinHostPort(gatewayHost(i), strconv.Itoa(d.gwPort)),
		Backend:       d.sink.Addr(),
		LogLevel:      d.s.logLevel,
		DecisionWait:  d.s.decisionWait,
		Handoff:       p.handoff,
		Replicate:     p.replicate,
		Hostname:      hostname,
		Nameserver:    d.dns.Addr(),
		Port:          d.gwPort,
		HandoffListen: net.JoinHostPort(gatewayHost(i), strconv.Itoa(d.handoffPort)),
	})
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-gateway-%d", p.label(), i)
	if p.crash {
		return startChild(ctx, d.dir, name, yaml, net.JoinHostPort(gatewayHost(i), strconv.Itoa(d.gwPort)))
	}
	return startCollector(ctx, d.dir, name, yaml)
}

func (d *demo) startAgent(ctx context.Context, p phase, i int) (*collector, error) {
	yaml, err := render(agentTmpl, agentParams{
		Listen:     net.JoinHostPort(agentHost(i), strconv.Itoa(d.agentPort)),
		Hostname:   hostname,
		Nameserver: d.dns.Addr(),
		Port:       d.gwPort,
		LogLevel:   d.s.logLevel,
		RoundRobin: p.roundRobin,
		Failover:   p.crash,
	})
	if err != nil {
		return nil, err
	}
	return startCollector(ctx, d.dir, fmt.Sprintf("%s-agent-%d", p.label(), i), yaml)
}

// publish makes the DNS name list exactly these gateways.
func (d *demo) publish(gateways map[int]gateway) {
	var addrs []netip.Addr
	for i := range gateways {
		addrs = append(addrs, netip.MustParseAddr(gatewayHost(i)))
	}
	d.dns.Set(hostname, addrs...)
}

func (d *demo) run(ctx context.Context, p phase) (res result, err error) {
	began := time.Now()
	res.phase = p
	d.printf("\n▶ Phase %s: %s\n", p.label(), p.title)

	var mu sync.Mutex // guards gateways and res.events (phases 3 and 4 change them)
	gateways := map[int]gateway{}
	var ags []*collector
	defer func() {
		// Agents first so that they hand on what they batch, then gateways,
		// which decide what they still hold and flush their span metrics.
		var errs []error
		for _, a := range ags {
			errs = append(errs, a.stop())
		}
		mu.Lock()
		for _, g := range gateways {
			errs = append(errs, g.stop())
		}
		mu.Unlock()
		if e := errors.Join(errs...); e != nil && err == nil {
			err = e
		}
	}()

	for i := 1; i <= d.s.gateways; i++ {
		g, err := d.startGateway(ctx, p, i)
		if err != nil {
			return res, err
		}
		gateways[i] = g
	}
	d.publish(gateways)
	for i := 1; i <= agents; i++ {
		a, err := d.startAgent(ctx, p, i)
		if err != nil {
			return res, err
		}
		ags = append(ags, a)
	}
	// The agents' resolvers query DNS every second: let them find the gateways.
	time.Sleep(1200 * time.Millisecond)
	d.printf("  %d gateways (127.0.0.11-%d:%d), %d agents (127.0.0.201-%d:%d), backend %s\n",
		d.s.gateways, 10+d.s.gateways, d.gwPort, agents, 200+agents, d.agentPort, d.sink.Addr())

	callsBefore := d.sink.DeltaCalls()
	plan := workload.Plan{
		Rate: d.s.rate, Duration: d.s.duration, SpansPerTrace: 10,
		SpanGap: d.s.spread / 9, ErrorEvery: d.s.errorEvery, SlowEvery: 0, Seed: p.seed(),
	}
	var agentAddrs []string
	for i := 1; i <= agents; i++ {
		agentAddrs = append(agentAddrs, net.JoinHostPort(agentHost(i), strconv.Itoa(d.agentPort)))
	}

	var sent atomic.Int64
	total := plan.Spec(time.Now()).Traces * plan.SpansPerTrace
	playCtx, stopPlay := context.WithCancel(ctx)
	defer stopPlay()
	var bg sync.WaitGroup
	bg.Go(func() { d.progress(playCtx, &sent, total) })
	event := func(msg string) {
		mu.Lock()
		res.events = append(res.events, msg)
		mu.Unlock()
		d.printf("  ⚡ %s\n", msg)
	}
	switch {
	case p.scale:
		bg.Go(func() { d.scaleEvents(playCtx, p, &mu, gateways, event) })
	case p.crash:
		bg.Go(func() { d.crash(playCtx, p, &mu, gateways, event) })
	}
	// A fresh client per phase: the agents of the previous phase, at the
	// same addresses, are gone, and a reused connection would first have to
	// notice that and back off before reconnecting.
	snd := wire.NewSender()
	defer snd.Close()
	played, err := workload.Play(playCtx, snd, plan, agentAddrs, func(n, _ int) { sent.Store(int64(n)) })
	stopPlay()
	bg.Wait()
	if err != nil {
		return res, fmt.Errorf("phase %s: sending: %w", p.label(), err)
	}

	// The last traces started up to `spread` before the last span left; they
	// are decided decision_wait after their first span reached a gateway.
	d.printf("  waiting for the gateways' decisions (decision_wait %v)…\n", d.s.decisionWait)
	wait := time.Until(played.Last.Add(d.s.decisionWait + 1500*time.Millisecond))
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(wait):
	}
	if err := d.sink.WaitQuiet(ctx, 1500*time.Millisecond); err != nil {
		return res, err
	}
	res.score = workload.Evaluate(played, d.sink)
	for _, a := range ags {
		if e := a.stop(); e != nil {
			err = errors.Join(err, e)
		}
	}
	ags = nil
	mu.Lock()
	for i, g := range gateways {
		if e := g.stop(); e != nil {
			err = errors.Join(err, e)
		}
		delete(gateways, i)
	}
	mu.Unlock()
	if err != nil {
		return res, err
	}
	// Span metrics of the final flush.
	_ = d.sink.WaitQuiet(ctx, 500*time.Millisecond)
	res.score = workload.Evaluate(played, d.sink)
	res.calls = d.sink.DeltaCalls() - callsBefore
	res.took = time.Since(began)
	d.printf("  error traces whole: %d/%d · traces split: %d · span metrics counted %.0f of %d spans · %v\n",
		res.score.Errors.Complete, res.score.Errors.Sent, res.score.Split(), res.calls, res.score.Spans, res.took.Round(100*time.Millisecond))
	return res, nil
}

// scaleEvents adds gateway N+1 a third of the way through the traffic and
// removes gateway 1 at two thirds: first from DNS, then, once the agents had
// a resolver interval to notice, the process itself (which decides what it
// still holds on the way out).
func (d *demo) scaleEvents(ctx context.Context, p phase, mu *sync.Mutex, gateways map[int]gateway, event func(string)) {
	sleep := func(dur time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(dur):
			return true
		}
	}
	if !sleep(d.s.duration / 3) {
		return
	}
	n := d.s.gateways + 1
	g, err := d.startGateway(ctx, p, n)
	if err != nil {
		event("adding gateway-" + strconv.Itoa(n) + " failed: " + err.Error())
		return
	}
	mu.Lock()
	gateways[n] = g
	d.publish(gateways)
	mu.Unlock()
	event(fmt.Sprintf("gateway-%d joined (%s): part of the traces in flight now route to it", n, gatewayHost(n)))

	if !sleep(d.s.duration / 3) {
		return
	}
	mu.Lock()
	leaving := gateways[1]
	delete(gateways, 1)
	d.publish(gateways)
	mu.Unlock()
	event("gateway-1 left DNS; agents notice within the 1 s resolver interval")
	sleep(1500 * time.Millisecond)
	if err := leaving.stop(); err != nil {
		event("gateway-1 stop: " + err.Error())
		return
	}
	if p.handoff {
		event("gateway-1 shut down: it had handed its traces to their new owners when it left DNS, and drained the rest")
		return
	}
	event("gateway-1 shut down: it decided the traces it held on what it had seen")
}

// crash kills gateway 1 halfway through the traffic, as an OOM kill or a
// lost node does: SIGKILL, and out of DNS at once (its endpoint is gone);
// it does not come back.
func (d *demo) crash(ctx context.Context, p phase, mu *sync.Mutex, gateways map[int]gateway, event func(string)) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(d.s.duration / 2):
	}
	mu.Lock()
	victim, ok := gateways[1].(*child)
	delete(gateways, 1)
	d.publish(gateways)
	mu.Unlock()
	if !ok {
		event("gateway-1 is not a process of its own; it cannot be killed")
		return
	}
	if err := victim.kill(); err != nil {
		event("gateway-1 kill: " + err.Error())
		return
	}
	if p.replicate {
		event("gateway-1 killed (SIGKILL) and out of DNS: its successors hold every span it had acknowledged and decide its traces")
		return
	}
	event("gateway-1 killed (SIGKILL) and out of DNS: the traces it held are lost")
}

// progress prints a line a second while traffic flows.
func (d *demo) progress(ctx context.Context, sent *atomic.Int64, total int) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			distinct, _ := d.sink.Spans()
			n := sent.Load()
			d.printf("  sending %3d%%  %7d/%d spans sent · backend has %d spans\n", int(100*n/int64(max(total, 1))), n, total, distinct)
		}
	}
}
