package e2e

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Gateway faults under load: the way production gateways fail. The agents
// run the default agent config (load_balancing with the DNS resolver and
// the batch processor; per-endpoint buffers on by default, no failover);
// three gateways run tail_sampling with handoff. The application sends
// 150 traces/s of 8 spans over 40 s, every span to one of two agents, one
// trace in four with an error span, and records every export call.
const (
	faultFreeze  = 15 * time.Second // SIGSTOP … SIGCONT
	faultRestart = 2 * time.Second  // SIGKILL … the same address serves again
	faultTraffic = 40 * time.Second
	faultRate    = 150
)

func (d *deployment) markFault() {
	d.mu.Lock()
	d.faultAt = time.Now()
	d.mu.Unlock()
}

// freezeGateway stops gateway i (SIGSTOP) for faultFreeze, then lets it
// run again (SIGCONT). It stays in DNS throughout: a frozen process, a
// long GC pause or a node under memory pressure looks like this.
func (d *deployment) freezeGateway(ctx context.Context, i int) error {
	d.mu.Lock()
	p := d.gateways[i]
	d.mu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	d.markFault()
	d.event("gateway %s frozen (SIGSTOP)", d.gatewayHost(i))
	ok := sleepCtx(ctx, faultFreeze)
	d.recordBuffered(ctx, d.gatewayHost(i)+":4317")
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	d.event("gateway %s running again (SIGCONT)", d.gatewayHost(i))
	if !ok {
		return ctx.Err()
	}
	return nil
}

// crashGateway kills gateway i (killGateway: SIGKILL, out of DNS as a
// Kubernetes Endpoints controller would take it) and starts a new process
// on the same address faultRestart later, back in DNS once it listens.
func (d *deployment) crashGateway(ctx context.Context, i int) error {
	if err := d.killGateway(i); err != nil {
		return err
	}
	if !sleepCtx(ctx, faultRestart) {
		return ctx.Err()
	}
	return d.addGateway(i, 2)
}

// recordBuffered sums what the agents hold for endpoint
// (otelcol_loadbalancer_queue_size, in requests).
func (d *deployment) recordBuffered(ctx context.Context, endpoint string) {
	var total float64
	for i := range d.agents {
		m, err := scrape(ctx, "http://"+d.agentHost(i+1)+":8888/metrics", "otelcol_loadbalancer_queue_size")
		if err != nil {
			d.event("scraping agent %d: %v", i+1, err)
			continue
		}
		total += sumWith(m, "otelcol_loadbalancer_queue_size", `endpoint="`+endpoint+`"`)
	}
	d.mu.Lock()
	d.buffered = max(d.buffered, total)
	d.mu.Unlock()
	d.event("agents buffer %.0f requests for %s", total, endpoint)
}

func TestGatewayFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault scenarios take about 80 s")
	}
	scenarios := []scenario{
		{event: freeze, handoff: true, third: 20, traffic: faultTraffic, seed: 20, gateways: 3, rate: faultRate, errorEvery: 4, keepGoing: true},
		{event: crashRestart, handoff: true, third: 21, traffic: faultTraffic, seed: 21, gateways: 3, rate: faultRate, errorEvery: 4, keepGoing: true},
		// The opt-in alternative: agents fail the frozen gateway's keys
		// over to their next ring choice, whose handoff must keep them
		// rather than forward them back to the frozen gateway.
		{event: freeze, handoff: true, third: 22, traffic: faultTraffic, seed: 22, gateways: 3, rate: faultRate, errorEvery: 4, keepGoing: true, failover: true},
		// The crash again, with handoff::replicate: the killed gateway's
		// traces are also on their successors.
		{event: crashRestart, replicate: true, third: 23, traffic: faultTraffic, seed: 21, gateways: 3, rate: faultRate, errorEvery: 4, keepGoing: true},
	}
	results := runScenarios(t, scenarios)
	t.Log("\n" + faultTable(results))
	for _, r := range results {
		name := r.sc.event.String()
		if r.sc.failover {
			name += ", agents with failover"
		}
		if r.sc.replicate {
			name += ", replication on"
		}
		t.Run(name, func(t *testing.T) {
			require.NoError(t, r.err)
			for _, e := range r.events {
				t.Log(e)
			}
			s := r.score
			require.Positive(t, s.Errors.Sent)
			assert.Zero(t, r.sent.Failed, "spans the application could not export")
			// The target is 100 ms, met on a machine with cores to spare
			// (README). Under make test three deployments share two cores
			// with other suites and ordinary calls take 100 ms to 2 s at
			// times, fault or not; what is asserted is that no call waits
			// for the faulty gateway, which costs a whole per-attempt
			// timeout (5 s): under 1 s, or twice the slowest call before
			// the fault when the machine is that loaded, never 4 s.
			before := r.sent.SlowestBetween(time.Time{}, r.faultAt)
			during := r.sent.SlowestBetween(r.faultAt, r.sent.Last.Add(time.Second))
			t.Logf("slowest app export: %v before the fault, %v from the fault on", before, during)
			assert.Less(t, during, min(max(time.Second, 2*before), 4*time.Second), "slowest export call of the application")
			complete := float64(s.Errors.Complete) / float64(s.Errors.Sent)
			switch {
			case r.sc.failover:
				// Failover trades trace affinity for availability: traces
				// that straddle the switch are split (reported). What
				// must hold is that the successors kept what the agents
				// failed over to them: nothing was forwarded back to the
				// frozen gateway, so no handoff waited on it and failed.
				assert.Zero(t, r.handoff["otelcol_processor_tail_sampling_handoff_failures"], "handoffs that waited on the frozen gateway")
				assert.Zero(t, r.handoff["otelcol_processor_tail_sampling_handoff_spans_forwarded"], "spans forwarded between gateways")
			case r.sc.event == freeze:
				if !assert.GreaterOrEqual(t, complete, 0.999, "≥ 99.9 %% of error traces complete") {
					t.Log(incompleteByStart(r))
				}
			case r.sc.event == crashRestart && r.sc.replicate:
				assert.GreaterOrEqual(t, complete, 0.999, "≥ 99.9 %% of error traces complete")
			case r.sc.event == crashRestart:
				// Without replication the killed gateway's undecided
				// traces were only in its memory: what is asserted is
				// that nothing else is lost.
				assert.GreaterOrEqual(t, complete, 0.95, "error traces complete")
			}
		})
	}
}

// incompleteByStart says when the incomplete error traces started,
// relative to the fault, by second, and how many of their spans arrived.
func incompleteByStart(r outcome) string {
	perTick := max(1, r.sc.rate/10) // workload.Plan: traces per 100 ms tick
	start := r.sent.Log[0].At
	type key struct{ sec, got int }
	count := map[key]int{}
	for i, got := range r.incomplete {
		at := start.Add(time.Duration(i/perTick) * 100 * time.Millisecond)
		count[key{int(at.Sub(r.faultAt).Seconds()), got}]++
	}
	keys := make([]key, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(a.sec-b.sec, a.got-b.got) })
	var b strings.Builder
	b.WriteString("incomplete error traces by start (s after the fault) and spans arrived:")
	for _, k := range keys {
		fmt.Fprintf(&b, " [%+ds, %d spans]×%d", k.sec, k.got, count[k])
	}
	return b.String()
}

// faultTable renders the fault results as the README's table.
func faultTable(rs []outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| fault | agents | error traces complete | spans the apps could not export | slowest app export call | traces split | export calls | traces (error traces) | agents' buffer for the gateway before SIGCONT | handoff: spans forwarded · failures |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		if r.err != nil {
			fmt.Fprintf(&b, "| %s | | error: %v |\n", r.sc.event, r.err)
			continue
		}
		s := r.score
		buffered := "-"
		if r.sc.event == freeze {
			buffered = fmt.Sprintf("%.0f requests", r.buffered)
		}
		agents := "default config"
		if r.sc.failover {
			agents = "failover on"
		}
		if r.sc.replicate {
			agents += ", gateways replicate"
		}
		fmt.Fprintf(&b, "| %s | %s | %s (%d of %d) | %d | %v | %d (%s) | %d | %d (%d) | %s | %.0f · %.0f |\n",
			r.sc.event, agents, pct(s.Errors.Complete, s.Errors.Sent), s.Errors.Complete, s.Errors.Sent,
			r.sent.Failed, r.sent.Slowest().Round(time.Millisecond), s.Split(), pct(s.Split(), s.Traces),
			r.sent.Calls(), s.Traces, s.Errors.Sent, buffered,
			r.handoff["otelcol_processor_tail_sampling_handoff_spans_forwarded"], r.handoff["otelcol_processor_tail_sampling_handoff_failures"])
	}
	return b.String()
}
