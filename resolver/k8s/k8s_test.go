package k8s

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/internal/metrictest"
)

const (
	ns   = "observability"
	svc  = "gateway"
	wait = 10 * time.Second
	tick = 5 * time.Millisecond
)

type ep struct {
	addrs    []string
	ready    *bool // nil = unknown, counts as ready
	hostname string
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func slice(name, service string, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: service},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, e := range eps {
		x := discoveryv1.Endpoint{Addresses: e.addrs, Conditions: discoveryv1.EndpointConditions{Ready: e.ready}}
		if e.hostname != "" {
			h := e.hostname
			x.Hostname = &h
		}
		s.Endpoints = append(s.Endpoints, x)
	}
	return s
}

func cfg() resolver.K8sConfig {
	return resolver.K8sConfig{Service: svc + "." + ns, Timeout: 5 * time.Second}
}

type harness struct {
	r      *Resolver
	rec    *metrictest.Recorder
	reader *metrictest.Reader
	cs     *fake.Clientset
}

func start(t *testing.T, c resolver.K8sConfig, cs *fake.Clientset, opts ...Option) *harness {
	t.Helper()
	reader, set := metrictest.New(t)
	rec := metrictest.NewRecorder(t)
	if cs != nil {
		opts = append([]Option{WithClientset(cs)}, opts...)
	}
	r, err := New(c, set, rec.Listen, opts...)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return &harness{r: r, rec: rec, reader: reader, cs: cs}
}

func (h *harness) apply(t *testing.T, s *discoveryv1.EndpointSlice) {
	t.Helper()
	es := h.cs.DiscoveryV1().EndpointSlices(s.Namespace)
	_, err := es.Update(context.Background(), s, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = es.Create(context.Background(), s, metav1.CreateOptions{})
	}
	require.NoError(t, err)
}

func (h *harness) remove(t *testing.T, name string) {
	t.Helper()
	require.NoError(t, h.cs.DiscoveryV1().EndpointSlices(ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
}

func TestStartListsSynchronously(t *testing.T) {
	cs := fake.NewClientset(
		slice("gateway-a", svc, ep{addrs: []string{"10.0.0.2"}, ready: yes()}, ep{addrs: []string{"10.0.0.1"}}),
		slice("gateway-b", svc, ep{addrs: []string{"10.0.0.3"}, ready: no()}),
		slice("other", "other-svc", ep{addrs: []string{"10.9.9.9"}}),
	)
	h := start(t, cfg(), cs)
	assert.Equal(t, []string{"10.0.0.1:4317", "10.0.0.2:4317"}, h.r.Endpoints())
	assert.Equal(t, 1, h.rec.Calls(), "one publication for the whole initial list")
	assert.Equal(t, int64(2), h.reader.Backends(t, "k8s"))
	assert.Equal(t, int64(1), h.reader.Updates(t, "k8s"))
	assert.Equal(t, int64(0), h.reader.Resolutions(t, "k8s", false))
}

func TestSlicesAddedRemovedSplit(t *testing.T) {
	h := start(t, cfg(), fake.NewClientset())
	assert.Empty(t, h.r.Endpoints())

	h.apply(t, slice("gateway-a", svc, ep{addrs: []string{"10.0.0.1"}}))
	h.rec.WaitFor(t, []string{"10.0.0.1:4317"}, wait)

	// A second slice of the same service merges; an address present in
	// both (slices overlap while the controller moves endpoints) counts once.
	h.apply(t, slice("gateway-b", svc, ep{addrs: []string{"10.0.0.2"}}, ep{addrs: []string{"10.0.0.1"}}))
	h.rec.WaitFor(t, []string{"10.0.0.1:4317", "10.0.0.2:4317"}, wait)

	// Another service's slice changes nothing.
	calls := h.rec.Calls()
	h.apply(t, slice("unrelated", "other", ep{addrs: []string{"10.9.9.9"}}))
	h.apply(t, slice("gateway-c", svc, ep{addrs: []string{"10.0.0.3"}}))
	h.rec.WaitFor(t, []string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"}, wait)
	assert.Equal(t, calls+1, h.rec.Calls())

	h.remove(t, "gateway-b")
	h.rec.WaitFor(t, []string{"10.0.0.1:4317", "10.0.0.3:4317"}, wait)
}

func TestReadyFlipping(t *testing.T) {
	h := start(t, cfg(), fake.NewClientset(slice("gateway-a", svc,
		ep{addrs: []string{"10.0.0.1"}, ready: yes()},
		ep{addrs: []string{"10.0.0.2"}, ready: no()},
	)))
	assert.Equal(t, []string{"10.0.0.1:4317"}, h.r.Endpoints())

	h.apply(t, slice("gateway-a", svc,
		ep{addrs: []string{"10.0.0.1"}, ready: no()},
		ep{addrs: []string{"10.0.0.2"}, ready: yes()},
	))
	h.rec.WaitFor(t, []string{"10.0.0.2:4317"}, wait)

	h.apply(t, slice("gateway-a", svc,
		ep{addrs: []string{"10.0.0.1"}}, // nil ready = ready
		ep{addrs: []string{"10.0.0.2"}, ready: yes()},
	))
	h.rec.WaitFor(t, []string{"10.0.0.1:4317", "10.0.0.2:4317"}, wait)
}

func TestServiceDeletedIsEmptySet(t *testing.T) {
	h := start(t, cfg(), fake.NewClientset(
		slice("gateway-a", svc, ep{addrs: []string{"10.0.0.1"}}),
		slice("gateway-b", svc, ep{addrs: []string{"10.0.0.2"}}),
	))
	require.Len(t, h.r.Endpoints(), 2)
	// Deleting a Service garbage-collects its slices.
	h.remove(t, "gateway-a")
	h.remove(t, "gateway-b")
	h.rec.WaitFor(t, []string{}, wait)
	assert.Equal(t, int64(0), h.reader.Backends(t, "k8s"))
	assert.Equal(t, int64(0), h.reader.Resolutions(t, "k8s", false))
}

func TestPortsAndIPv6(t *testing.T) {
	c := cfg()
	c.Ports = []int32{4318, 4317}
	s := slice("gateway-a", svc, ep{addrs: []string{"fd00::1"}}, ep{addrs: []string{"10.0.0.1"}})
	s.AddressType = discoveryv1.AddressTypeIPv6
	h := start(t, c, fake.NewClientset(s))
	assert.Equal(t, []string{"10.0.0.1:4317", "10.0.0.1:4318", "[fd00::1]:4317", "[fd00::1]:4318"}, h.r.Endpoints())
}

func TestReturnHostnames(t *testing.T) {
	c := cfg()
	c.ReturnHostnames = true
	h := start(t, c, fake.NewClientset(slice("gateway-a", svc,
		ep{addrs: []string{"10.0.0.1"}, hostname: "gateway-0"},
		ep{addrs: []string{"10.0.0.2"}, hostname: "gateway-1"},
		ep{addrs: []string{"10.0.0.3"}, ready: no()}, // not ready: its missing hostname does not matter
	)))
	want := []string{"gateway-0.gateway.observability:4317", "gateway-1.gateway.observability:4317"}
	assert.Equal(t, want, h.r.Endpoints())

	// A ready endpoint without a hostname: stale over partial.
	h.apply(t, slice("gateway-a", svc,
		ep{addrs: []string{"10.0.0.1"}, hostname: "gateway-0"},
		ep{addrs: []string{"10.0.0.2"}},
	))
	require.Eventually(t, func() bool { return h.reader.Resolutions(t, "k8s", false) >= 1 }, wait, tick)
	assert.Equal(t, want, h.r.Endpoints())
}

// listFails makes the first n list calls fail with err.
func listFails(cs *fake.Clientset, n int32, err error) *atomic.Int32 {
	var calls atomic.Int32
	cs.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) <= n {
			return true, nil, err
		}
		return false, nil, nil
	})
	return &calls
}

func TestAPIErrorsDoNotFailStart(t *testing.T) {
	gr := schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}
	for name, apiErr := range map[string]error{
		"unreachable": errors.New("dial tcp 10.96.0.1:443: connect: connection refused"),
		"rbac denied": apierrors.NewForbidden(gr, "", errors.New("serviceaccount cannot list endpointslices")),
	} {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset(slice("gateway-a", svc, ep{addrs: []string{"10.0.0.1"}}))
			calls := listFails(cs, 1, apiErr)
			c := cfg()
			c.Timeout = time.Minute // Start must return on the error, not the timeout
			begin := time.Now()
			h := start(t, c, cs)
			assert.Less(t, time.Since(begin), 10*time.Second)
			assert.GreaterOrEqual(t, h.reader.Resolutions(t, "k8s", false), int64(1))
			assert.GreaterOrEqual(t, calls.Load(), int32(1))
			// The informer retries by itself and finds the endpoints.
			h.rec.WaitFor(t, []string{"10.0.0.1:4317"}, wait)
		})
	}
}

func TestWatchErrorKeepsLastGood(t *testing.T) {
	cs := fake.NewClientset(slice("gateway-a", svc, ep{addrs: []string{"10.0.0.1"}}))
	fw := watch.NewRaceFreeFake()
	var fail, handedOut atomic.Bool
	cs.PrependWatchReactor("endpointslices", func(k8stesting.Action) (bool, watch.Interface, error) {
		if fail.Load() {
			return true, nil, errors.New("watch refused")
		}
		if handedOut.CompareAndSwap(false, true) {
			return true, fw, nil
		}
		return false, nil, nil
	})
	h := start(t, cfg(), cs)
	require.Equal(t, []string{"10.0.0.1:4317"}, h.r.Endpoints())
	assert.Equal(t, int64(0), h.reader.Resolutions(t, "k8s", false))

	// The API server drops the watch and refuses new ones.
	fail.Store(true)
	fw.Stop()
	require.Eventually(t, func() bool { return h.reader.Resolutions(t, "k8s", false) >= 1 }, wait, tick)
	assert.Equal(t, []string{"10.0.0.1:4317"}, h.r.Endpoints())
	assert.Equal(t, 1, h.rec.Calls())
}

func TestClientFactoryFailureDoesNotFailStart(t *testing.T) {
	cs := fake.NewClientset(slice("gateway-a", svc, ep{addrs: []string{"10.0.0.1"}}))
	var attempts atomic.Int32
	factory := func() (kubernetes.Interface, error) {
		if attempts.Add(1) <= 2 {
			return nil, errors.New("unable to load in-cluster configuration")
		}
		return cs, nil
	}
	h := start(t, cfg(), nil, WithClientFactory(factory), WithInitialBackoff(10*time.Millisecond))
	assert.Empty(t, h.r.Endpoints())
	assert.Equal(t, int64(1), h.reader.Resolutions(t, "k8s", false))
	h.rec.WaitFor(t, []string{"10.0.0.1:4317"}, wait)
	assert.Equal(t, int64(2), h.reader.Resolutions(t, "k8s", false))
}

func TestNotInClusterDoesNotFailStart(t *testing.T) {
	// No injected client: the real in-cluster config fails outside a pod.
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	h := start(t, cfg(), nil, WithInitialBackoff(time.Hour))
	assert.Empty(t, h.r.Endpoints())
	assert.Equal(t, int64(1), h.reader.Resolutions(t, "k8s", false))
}

func TestNamespace(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "namespace")
	require.NoError(t, os.WriteFile(file, []byte("observability\n"), 0o600))
	r, err := New(resolver.K8sConfig{Service: svc}, resolver.Settings{}, nil, WithNamespaceFile(file))
	require.NoError(t, err)
	assert.Equal(t, "observability", r.Namespace())

	r, err = New(resolver.K8sConfig{Service: svc}, resolver.Settings{}, nil, WithNamespaceFile(filepath.Join(dir, "missing")))
	require.NoError(t, err)
	assert.Equal(t, "default", r.Namespace())

	r, err = New(resolver.K8sConfig{Service: svc + ".explicit"}, resolver.Settings{}, nil, WithNamespaceFile(file))
	require.NoError(t, err)
	assert.Equal(t, "explicit", r.Namespace())

	// The namespace read from the file is the one watched.
	cs := fake.NewClientset(slice("gateway-a", svc, ep{addrs: []string{"10.0.0.1"}}))
	h := start(t, resolver.K8sConfig{Service: svc, Timeout: 5 * time.Second}, cs, WithNamespaceFile(file))
	assert.Equal(t, []string{"10.0.0.1:4317"}, h.r.Endpoints())
}

func TestLifecycle(t *testing.T) {
	cs := fake.NewClientset()
	r, err := New(cfg(), resolver.Settings{}, nil, WithClientset(cs))
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()))
	require.ErrorIs(t, r.Start(context.Background()), resolver.ErrShutdown)

	r, err = New(cfg(), resolver.Settings{}, nil, WithClientset(cs))
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	require.ErrorIs(t, r.Start(context.Background()), resolver.ErrAlreadyStarted)
	require.NoError(t, r.Shutdown(context.Background()))
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, c := range map[string]resolver.K8sConfig{
		"no service":  {},
		"bad service": {Service: "gw.ns.svc.cluster.local"},
		"bad port":    {Service: svc, Ports: []int32{0}},
		"neg timeout": {Service: svc, Timeout: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(c, resolver.Settings{}, nil, WithClientset(fake.NewClientset()))
			require.ErrorIs(t, err, resolver.ErrInvalidConfig)
		})
	}
}
