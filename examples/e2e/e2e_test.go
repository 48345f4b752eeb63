package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tailgate-otel/tailgate/examples/internal/dnsserver"
	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/examples/internal/workload"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if buildDir != "" {
			_ = os.RemoveAll(buildDir)
		}
	}))
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// collectorBinary builds examples/collector once per test binary, without
// -race, into a temporary directory.
func collectorBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tailgate-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "tailgate-collector")
		cmd := exec.Command("go", "build", "-o", binPath, "./collector")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./collector: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// process is one collector started by the test.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startCollector(t *testing.T, name, config string, env map[string]string) *process {
	t.Helper()
	p, err := launch(t, name, config, env, nil)
	require.NoError(t, err)
	return p
}

// launch starts the distribution on configs/config (plus extra --config
// URIs, merged in order) and kills it at the end of the test if it is still
// running. It does not use require, so scenario goroutines may call it.
func launch(t *testing.T, name, config string, env map[string]string, extra []string) (*process, error) {
	bin := collectorBinary(t)
	logDir := t.TempDir()
	if d := os.Getenv("TAILGATE_E2E_LOGS"); d != "" {
		logDir = d // kept after the test, for a look at a failed run
	}
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"--config=" + filepath.Join("..", "configs", config)}
	for _, e := range extra {
		args = append(args, "--config="+e)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("---- %s log (tail) ----\n%s", name, tail(logPath, 40))
		}
	})
	return p, nil
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *process) terminate(t *testing.T, within time.Duration) {
	t.Helper()
	assert.NoError(t, p.stop(within))
}

// stop sends SIGTERM and waits for a clean exit (status 0, no panic).
func (p *process) stop(within time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s must exit cleanly on SIGTERM: %w\n%s", p.name, p.err, tail(p.log, 30))
		}
		if strings.Contains(tail(p.log, 1000), "panic:") {
			return fmt.Errorf("%s panicked\n%s", p.name, tail(p.log, 60))
		}
		return nil
	case <-time.After(within):
		return fmt.Errorf("%s did not exit within %v of SIGTERM", p.name, within)
	}
}

func tail(path string, lines int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// waitListening polls until addr accepts TCP connections.
func waitListening(t *testing.T, p *process, addr string, within time.Duration) {
	t.Helper()
	require.NoError(t, listening(p, addr, within))
}

// listening polls until addr accepts TCP connections, p exits or within
// passes.
func listening(p *process, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", p.name, addr, p.err, tail(p.log, 30))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s is not listening on %s after %v\n%s", p.name, addr, within, tail(p.log, 30))
}

// scrape returns the samples of a Prometheus text endpoint whose metric name
// starts with prefix, keyed by the full series line before the value.
func scrape(ctx context.Context, url, prefix string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad sample %q: %w", url, line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

func sum(m map[string]float64, namePrefix string) float64 { return sumWith(m, namePrefix, "") }

// sumWith is sum over the samples whose labels include label (`k="v"`);
// a counter's _total suffix, if the exporter adds one, is part of its name.
func sumWith(m map[string]float64, namePrefix, label string) float64 {
	var total float64
	for k, v := range m {
		name, _, _ := strings.Cut(k, "{")
		if (name == namePrefix || name == namePrefix+"_total") && strings.Contains(k, label) {
			total += v
		}
	}
	return total
}

// topology is the addresses of one run.
type topology struct {
	gateways []string // hosts
	agents   []string // hosts
}

func newTopology(third int) topology {
	h := func(last int) string { return fmt.Sprintf("127.0.%d.%d", third, last) }
	return topology{gateways: []string{h(2), h(3), h(4)}, agents: []string{h(5), h(6)}}
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run takes about 1.5 minutes")
	}
	collectorBinary(t)

	sink, err := wire.StartSink("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(sink.Stop)

	tests := []struct {
		name     string
		topo     topology
		resolver string
		seed     uint64
	}{
		{"static resolver", newTopology(0), "static", 1},
		{"dns resolver", newTopology(1), "dns", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runDeployment(t, sink, tt.topo, tt.resolver, tt.seed)
		})
	}
}

func runDeployment(t *testing.T, sink *wire.Sink, topo topology, resolverKind string, seed uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	started := time.Now()

	var gateways, agents []*process
	for i, host := range topo.gateways {
		p := startCollector(t, fmt.Sprintf("gateway-%d", i+1), "gateway-config.loopback.yaml", map[string]string{
			"GATEWAY_HOST":     host,
			"BACKEND_ENDPOINT": sink.Addr(),
		})
		gateways = append(gateways, p)
	}
	for i, p := range gateways {
		waitListening(t, p, topo.gateways[i]+":4317", 30*time.Second)
	}

	agentEnv := func(host string) map[string]string {
		env := map[string]string{"AGENT_HOST": host}
		for i, g := range topo.gateways {
			env["GATEWAY_"+strconv.Itoa(i+1)] = g + ":4317"
		}
		return env
	}
	agentConfig := "agent-config.loopback-static.yaml"
	if resolverKind == "dns" {
		dnsSrv, err := dnsserver.Start("127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(dnsSrv.Stop)
		var addrs []netip.Addr
		for _, g := range topo.gateways {
			addrs = append(addrs, netip.MustParseAddr(g))
		}
		dnsSrv.Set("gateway-collector-headless.observability.svc.cluster.local", addrs...)
		agentConfig = "agent-config.loopback-dns.yaml"
		base := agentEnv
		agentEnv = func(host string) map[string]string {
			env := base(host)
			env["DNS_NAMESERVER"] = dnsSrv.Addr()
			return env
		}
		defer func() { assert.Positive(t, dnsSrv.Queries(), "agents resolved the gateways through the DNS server") }()
	}
	var agentAddrs []string
	for i, host := range topo.agents {
		agents = append(agents, startCollector(t, fmt.Sprintf("agent-%d", i+1), agentConfig, agentEnv(host)))
		agentAddrs = append(agentAddrs, host+":4317")
	}
	for i, p := range agents {
		waitListening(t, p, agentAddrs[i], 30*time.Second)
	}
	// Each agent must know all three gateways before traffic starts, or the
	// first traces would be routed on a partial ring.
	for i, host := range topo.agents {
		require.Eventually(t, func() bool {
			m, err := scrape(ctx, "http://"+host+":8888/metrics", "otelcol_loadbalancer_num_backends")
			return err == nil && sum(m, "otelcol_loadbalancer_num_backends") == 3
		}, 30*time.Second, 200*time.Millisecond, "agent-%d sees 3 gateways", i+1)
	}

	snd := wire.NewSender()
	defer snd.Close()
	plan := workload.Plan{Rate: 300, Duration: 6 * time.Second, SlowEvery: 70, Seed: seed} // 70: never an error trace (every 50th)
	sent, err := workload.Play(ctx, snd, plan, agentAddrs, nil)
	require.NoError(t, err)
	t.Logf("%s: sent %d spans of %d traces in %v", resolverKind, sent.Spans, sent.Spec.Traces, time.Since(started).Round(time.Millisecond))

	// Agents batch for 5 s, gateways decide 30 s after a trace's first span
	// and batch for 5 s: everything is at the sink ~42 s after the last span.
	var score workload.Score
	require.Eventually(t, func() bool {
		score = workload.Evaluate(sent, sink)
		return time.Since(sent.Last) > 40*time.Second &&
			score.Errors.Complete == score.Errors.Sent && score.Slow.Complete == score.Slow.Sent &&
			time.Since(sink.LastReceive()) > 3*time.Second
	}, 90*time.Second, 500*time.Millisecond, "sampled traces reach the backend")
	score = workload.Evaluate(sent, sink)
	t.Logf("%s: %+v, kept share of others %.3f", resolverKind, score, score.KeptShare())
	if share := score.KeptShare(); share < 0.07 || share > 0.13 {
		// Seen once and not reproduced since: say which policy kept what,
		// so a recurrence can be diagnosed from the CI log alone.
		for _, g := range topo.gateways {
			m, err := scrape(ctx, "http://"+g+":8888/metrics", "otelcol_processor_tail_sampling")
			t.Logf("gateway %s tail-sampling metrics (scrape error: %v):", g, err)
			for _, k := range slices.Sorted(maps.Keys(m)) {
				t.Logf("  %s = %v", k, m[k])
			}
		}
	}

	assert.Equal(t, score.Errors.Sent, score.Errors.Complete, "100%% of error traces complete")
	assert.Equal(t, score.Slow.Sent, score.Slow.Complete, "100%% of slow traces complete")
	assert.Zero(t, score.Split(), "no trace arrives split")
	assert.InDelta(t, 0.10, score.KeptShare(), 0.03, "probabilistic share")
	assert.Positive(t, score.Errors.Sent)
	assert.Positive(t, score.Slow.Sent)

	// Span metrics: the gateways' prometheus exporters together count every
	// span sent, sampled or not (first flush 60 s after start, the default).
	var calls float64
	names := map[string]bool{}
	require.Eventually(t, func() bool {
		calls = 0
		for _, g := range topo.gateways {
			m, err := scrape(ctx, "http://"+g+":8889/metrics", "traces_span_metrics_")
			if err != nil {
				return false
			}
			for k := range m {
				names[strings.SplitN(k, "{", 2)[0]] = true
			}
			calls += sum(m, "traces_span_metrics_calls_total")
		}
		return calls >= float64(sent.Spans)
	}, 2*time.Minute, time.Second, "span metrics count every span")
	assert.InDelta(t, float64(sent.Spans), calls, 0.5, "calls total equals spans sent")
	for _, want := range []string{"traces_span_metrics_calls_total", "traces_span_metrics_duration_milliseconds_bucket",
		"traces_span_metrics_duration_milliseconds_sum", "traces_span_metrics_duration_milliseconds_count"} {
		assert.True(t, names[want], "prometheus serves %s (got %v)", want, names)
	}
	t.Logf("%s: span metrics calls %.0f; done in %v", resolverKind, calls, time.Since(started).Round(time.Second))

	for _, p := range agents {
		p.terminate(t, 30*time.Second)
	}
	for _, p := range gateways {
		p.terminate(t, 60*time.Second)
	}
}
