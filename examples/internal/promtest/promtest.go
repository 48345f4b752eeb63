package promtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireEnv names the environment variable that, set to a non-empty
// value, turns a missing binary into a test failure instead of a skip.
// .ci/run sets it.
const RequireEnv = "TAILGATE_REQUIRE_PROMETHEUS"

// Binary returns the path of the named Prometheus binary (prometheus or
// promtool) on PATH. It skips the test when the binary is missing, or
// fails it when RequireEnv is set.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found on PATH (Debian: apt-get install prometheus; .ci/run installs it)", name)
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s, and %s is set", msg, RequireEnv)
	}
	t.Skipf("%s; set %s=1 to make this a failure", msg, RequireEnv)
	return ""
}

// Server is a prometheus process started by Start.
type Server struct {
	URL  string // http://host:port
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Start runs prometheus on a free port of 127.0.0.1 with the
// configuration config returns for that address (host:port), its data in
// a temporary directory, and waits until it is ready. Files are written
// next to the configuration, by name (rule files). The server is stopped
// when the test ends.
func Start(t testing.TB, config func(addr string) string, files map[string][]byte) *Server {
	t.Helper()
	bin := Binary(t, "prometheus")
	dir := t.TempDir()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config(addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "http://" + addr, done: make(chan struct{}), log: filepath.Join(dir, "prometheus.log")}
	logFile, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("starting prometheus: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		_ = logFile.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("---- prometheus log ----\n%s", s.Log())
		}
	})
	if err := s.waitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return s
}

// Log returns what prometheus has logged so far.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *Server) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("prometheus exited before it was ready:\n%s", s.Log())
		default:
		}
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("prometheus not ready after %v:\n%s", within, s.Log())
}

// get calls an API endpoint and decodes its data field into out.
func (s *Server) get(ctx context.Context, path string, q url.Values, out any) error {
	u := s.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// MetricNames returns every metric name Prometheus has stored.
func (s *Server) MetricNames(ctx context.Context) ([]string, error) {
	var names []string
	err := s.get(ctx, "/api/v1/label/__name__/values", nil, &names)
	return names, err
}

// Rule is one loaded rule as the rules API reports it.
type Rule struct {
	Name      string `json:"name"`
	Type      string `json:"type"` // alerting or recording
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// Rules returns every loaded rule.
func (s *Server) Rules(ctx context.Context) ([]Rule, error) {
	var data struct {
		Groups []struct {
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	if err := s.get(ctx, "/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	var out []Rule
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// Alert is one active (pending or firing) alert.
type Alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// Alerts returns the active alerts.
func (s *Server) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	err := s.get(ctx, "/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// ErrNotVector is returned by Query for a result that is not an instant
// vector.
var ErrNotVector = errors.New("result is not a vector")

// Query evaluates expr now and returns how many series it returned.
func (s *Server) Query(ctx context.Context, expr string) (int, error) {
	var data struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	if err := s.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return 0, err
	}
	if data.ResultType != "vector" {
		return 0, fmt.Errorf("%w: %s", ErrNotVector, data.ResultType)
	}
	return len(data.Result), nil
}

// Targets returns the scrape URL and health ("up", "down", "unknown") of
// every active target.
func (s *Server) Targets(ctx context.Context) (map[string]string, error) {
	var data struct {
		ActiveTargets []struct {
			ScrapeURL string `json:"scrapeUrl"`
			Health    string `json:"health"`
		} `json:"activeTargets"`
	}
	if err := s.get(ctx, "/api/v1/targets", nil, &data); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, t := range data.ActiveTargets {
		out[t.ScrapeURL] = strings.ToLower(t.Health)
	}
	return out, nil
}
