package k8s

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// opsKey is the operations overlay both tiers pass as a second --config.
const opsKey = "k8s-operations.yaml"

// tiers are the two workloads with the configuration each runs first.
func tiers(t *testing.T, o objects) map[string]struct {
	spec   corev1.PodSpec
	annots map[string]string
	config string
} {
	t.Helper()
	dep, ds := o.deployments["gateway-collector"], o.daemonSets["agent-collector"]
	require.NotNil(t, dep)
	require.NotNil(t, ds)
	return map[string]struct {
		spec   corev1.PodSpec
		annots map[string]string
		config string
	}{
		"gateway": {dep.Spec.Template.Spec, dep.Spec.Template.Annotations, "gateway-config-handoff.yaml"},
		"agent":   {ds.Spec.Template.Spec, ds.Spec.Template.Annotations, "agent-config.yaml"},
	}
}

// portOf returns the port of host:port, where host may be ${env:VAR}.
func portOf(t *testing.T, endpoint string) int32 {
	t.Helper()
	i := strings.LastIndexByte(endpoint, ':')
	require.Positive(t, i, "%s has a port", endpoint)
	n, err := strconv.ParseInt(endpoint[i+1:], 10, 32)
	require.NoError(t, err, endpoint)
	return int32(n)
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %s", c.Name, name)
	return 0
}

// TestOperations checks what each tier's pod needs from the operations
// overlay, all read from the ConfigMaps: both configs passed, HTTP probes
// on the health_check port, self-metrics on a named port with matching
// scrape annotations, pprof declared but off.
func TestOperations(t *testing.T) {
	o := loadObjects(t)
	for tier, w := range tiers(t, o) {
		t.Run(tier, func(t *testing.T) {
			c := onlyContainer(t, w.spec)
			assert.Equal(t, []string{"--config=/conf/" + w.config, "--config=/conf/" + opsKey}, c.Args,
				"the tier's configuration, then the operations overlay merged over it")
			ops := parseYAML(t, configMapFile(t, o, w.spec, opsKey))
			_ = configMapFile(t, o, w.spec, w.config)

			exts := dig(t, ops, "extensions")
			hc := dig(t, exts, "health_check")
			healthPort := portOf(t, fmt.Sprint(hc["endpoint"]))
			assert.Equal(t, healthPort, containerPort(t, c, "health"), "containerPort health is health_check's port")
			path := "/"
			if p, ok := hc["path"].(string); ok {
				path = p
			}
			for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
				require.NotNil(t, probe, "%s probe", name)
				assert.Nil(t, probe.TCPSocket, "%s probe is HTTP, not tcpSocket", name)
				require.NotNil(t, probe.HTTPGet, "%s probe is an HTTP GET", name)
				assert.Equal(t, intstr.FromString("health"), probe.HTTPGet.Port, "%s probe", name)
				assert.Equal(t, path, probe.HTTPGet.Path, "%s probe", name)
			}
			assert.Contains(t, c.Env, corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				"health_check listens on ${env:POD_IP}")

			service := dig(t, ops, "service")
			enabled, ok := service["extensions"].([]any)
			require.True(t, ok, "service::extensions is a list")
			assert.Contains(t, enabled, "health_check")
			assert.Contains(t, exts, "pprof", "pprof is declared, ready to be enabled")
			assert.NotContains(t, enabled, "pprof", "pprof is off by default")

			readers, ok := dig(t, service, "telemetry", "metrics")["readers"].([]any)
			require.True(t, ok)
			require.Len(t, readers, 1)
			reader, ok := readers[0].(map[string]any)
			require.True(t, ok)
			prom := dig(t, reader, "pull", "exporter", "prometheus")
			assert.Equal(t, "0.0.0.0", prom["host"], "self-metrics reachable from other pods")
			metricsPort := containerPort(t, c, "metrics")
			assert.Equal(t, fmt.Sprint(metricsPort), fmt.Sprint(prom["port"]), "containerPort metrics is the telemetry reader's port")
			assert.Equal(t, map[string]string{
				"prometheus.io/scrape": "true",
				"prometheus.io/port":   fmt.Sprint(metricsPort),
				"prometheus.io/path":   "/metrics",
			}, w.annots)
		})
	}
}

// TestGatewaySpanMetricsPort: prom-metrics is the prometheus exporter's port.
func TestGatewaySpanMetricsPort(t *testing.T) {
	o := loadObjects(t)
	spec := o.deployments["gateway-collector"].Spec.Template.Spec
	gw := parseYAML(t, configMapFile(t, o, spec, "gateway-config-handoff.yaml"))
	ep := fmt.Sprint(dig(t, gw, "exporters", "prometheus")["endpoint"])
	assert.Equal(t, portOf(t, ep), containerPort(t, onlyContainer(t, spec), "prom-metrics"))
}

func TestOptionalManifests(t *testing.T) {
	o, opt := loadObjects(t), loadOptional(t)
	dep := o.deployments["gateway-collector"]
	require.NotNil(t, dep)

	t.Run("gateway HPA", func(t *testing.T) {
		hpa := opt.hpas["gateway-collector"]
		require.NotNil(t, hpa)
		ref := hpa.Spec.ScaleTargetRef
		assert.Equal(t, "apps/v1", ref.APIVersion)
		assert.Equal(t, "Deployment", ref.Kind)
		assert.Equal(t, dep.Name, ref.Name)
		require.NotNil(t, hpa.Spec.MinReplicas)
		pdb := o.pdbs["gateway-collector"]
		require.NotNil(t, pdb)
		assert.Greater(t, int(*hpa.Spec.MinReplicas), pdb.Spec.MinAvailable.IntValue(), "minReplicas above the PDB's minAvailable, or drains block")
		assert.GreaterOrEqual(t, hpa.Spec.MaxReplicas, *hpa.Spec.MinReplicas)
		assert.True(t, slices.ContainsFunc(hpa.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
			return m.Resource != nil && m.Resource.Name == corev1.ResourceCPU
		}), "scales on CPU")

		down := hpa.Spec.Behavior.ScaleDown
		require.NotNil(t, down, "scale-down behaviour is set")
		require.NotNil(t, down.StabilizationWindowSeconds)
		assert.GreaterOrEqual(t, *down.StabilizationWindowSeconds, int32(300), "scale down slowly")
		for _, p := range down.Policies {
			if p.Type == "Pods" {
				assert.Equal(t, int32(1), p.Value, "one gateway leaves at a time")
				assert.GreaterOrEqual(t, p.PeriodSeconds, int32(60))
			}
		}

		// It is only safe with the handoff: the Deployment must run it.
		gw := parseYAML(t, configMapFile(t, o, dep.Spec.Template.Spec, "gateway-config-handoff.yaml"))
		assert.Contains(t, dig(t, gw, "processors", "tail_sampling"), "handoff")
	})

	t.Run("PodMonitor", func(t *testing.T) {
		pm := opt.podMonitors["tailgate"]
		require.NotNil(t, pm)
		ds := o.daemonSets["agent-collector"]
		require.NotNil(t, ds)
		pods := []struct {
			labels map[string]string
			c      corev1.Container
		}{
			{dep.Spec.Template.Labels, onlyContainer(t, dep.Spec.Template.Spec)},
			{ds.Spec.Template.Labels, onlyContainer(t, ds.Spec.Template.Spec)},
		}
		for _, p := range pods {
			assert.True(t, selects(t, &pm.Spec.Selector, p.labels), "selects %v", p.labels)
		}
		var ports []string
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			ports = append(ports, ep.Port)
			assert.True(t, slices.ContainsFunc(pods, func(p struct {
				labels map[string]string
				c      corev1.Container
			}) bool {
				return hasContainerPort(p.c, ep.Port, 0)
			}), "endpoint port %s exists on some pod", ep.Port)
		}
		assert.ElementsMatch(t, []string{"metrics", "prom-metrics"}, ports, "self-metrics and span metrics")
	})
}
