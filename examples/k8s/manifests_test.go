package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const namespace = "observability"

// objects is every manifest of the directory, decoded strictly and indexed
// by kind and name.
type objects struct {
	namespaces      map[string]*corev1.Namespace
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	serviceAccounts map[string]*corev1.ServiceAccount
	deployments     map[string]*appsv1.Deployment
	daemonSets      map[string]*appsv1.DaemonSet
	pdbs            map[string]*policyv1.PodDisruptionBudget
	roles           map[string]*rbacv1.Role
	roleBindings    map[string]*rbacv1.RoleBinding
	networkPolicies map[string]*networkingv1.NetworkPolicy
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler
	podMonitors     map[string]*podMonitor
}

// podMonitor is the part of the Prometheus Operator's PodMonitor that
// optional/podmonitor.yaml uses, with the operator's field names; decoded
// strictly like the rest, so a misspelt field fails.
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port     string `json:"port,omitempty"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// docSep splits a multi-document YAML stream.
var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeStrict decodes one document into its typed object; unknown or
// duplicated fields are errors.
func decodeStrict(doc []byte) (metav1.Object, string, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, "", err
	}
	var obj metav1.Object
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/Namespace":
		obj = &corev1.Namespace{}
	case "v1/Service":
		obj = &corev1.Service{}
	case "v1/ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1/ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "apps/v1/Deployment":
		obj = &appsv1.Deployment{}
	case "apps/v1/DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "policy/v1/PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "rbac.authorization.k8s.io/v1/Role":
		obj = &rbacv1.Role{}
	case "rbac.authorization.k8s.io/v1/RoleBinding":
		obj = &rbacv1.RoleBinding{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case "monitoring.coreos.com/v1/PodMonitor":
		obj = &podMonitor{}
	case "networking.k8s.io/v1/NetworkPolicy":
		obj = &networkingv1.NetworkPolicy{}
	default:
		return nil, "", fmt.Errorf("unexpected apiVersion/kind %q", tm.APIVersion+"/"+tm.Kind)
	}
	// sigs.k8s.io/yaml's own strict mode goes through encoding/json, whose
	// field matching ignores case (clusterIp would pass for clusterIP); the
	// API server's decoder, sigs.k8s.io/json, is case-sensitive.
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, "", err
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, "", err
	}
	if len(strict) > 0 {
		return nil, "", errors.Join(strict...)
	}
	return obj, tm.Kind, nil
}

// loadObjects reads the manifests `kubectl apply -f examples/k8s/` applies.
func loadObjects(t *testing.T) objects { t.Helper(); return loadFrom(t, "*.yaml") }

// loadOptional reads the examples in optional/, applied only by hand.
func loadOptional(t *testing.T) objects { t.Helper(); return loadFrom(t, "optional/*.yaml") }

func loadFrom(t *testing.T, pattern string) objects {
	t.Helper()
	o := objects{
		namespaces: map[string]*corev1.Namespace{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, serviceAccounts: map[string]*corev1.ServiceAccount{},
		deployments: map[string]*appsv1.Deployment{}, daemonSets: map[string]*appsv1.DaemonSet{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, roles: map[string]*rbacv1.Role{},
		roleBindings: map[string]*rbacv1.RoleBinding{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		podMonitors: map[string]*podMonitor{}, networkPolicies: map[string]*networkingv1.NetworkPolicy{},
	}
	files, err := filepath.Glob(pattern)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, doc := range docSep.Split(string(raw), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			obj, kind, err := decodeStrict([]byte(doc))
			require.NoError(t, err, "%s document %d", f, i)
			if kind != "Namespace" {
				assert.Equal(t, namespace, obj.GetNamespace(), "%s %s/%s: namespace", f, kind, obj.GetName())
			}
			var dup bool
			switch v := obj.(type) {
			case *corev1.Namespace:
				_, dup = o.namespaces[v.Name]
				o.namespaces[v.Name] = v
			case *corev1.Service:
				_, dup = o.services[v.Name]
				o.services[v.Name] = v
			case *corev1.ConfigMap:
				_, dup = o.configMaps[v.Name]
				o.configMaps[v.Name] = v
			case *corev1.ServiceAccount:
				_, dup = o.serviceAccounts[v.Name]
				o.serviceAccounts[v.Name] = v
			case *appsv1.Deployment:
				_, dup = o.deployments[v.Name]
				o.deployments[v.Name] = v
			case *appsv1.DaemonSet:
				_, dup = o.daemonSets[v.Name]
				o.daemonSets[v.Name] = v
			case *policyv1.PodDisruptionBudget:
				_, dup = o.pdbs[v.Name]
				o.pdbs[v.Name] = v
			case *rbacv1.Role:
				_, dup = o.roles[v.Name]
				o.roles[v.Name] = v
			case *rbacv1.RoleBinding:
				_, dup = o.roleBindings[v.Name]
				o.roleBindings[v.Name] = v
			case *autoscalingv2.HorizontalPodAutoscaler:
				_, dup = o.hpas[v.Name]
				o.hpas[v.Name] = v
			case *podMonitor:
				_, dup = o.podMonitors[v.Name]
				o.podMonitors[v.Name] = v
			case *networkingv1.NetworkPolicy:
				_, dup = o.networkPolicies[v.Name]
				o.networkPolicies[v.Name] = v
			}
			assert.False(t, dup, "%s: %s/%s declared twice", f, kind, obj.GetName())
		}
	}
	return o
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestStrictDecodeRejectsTypos(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		ok   bool
	}{
		{"valid", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: None}\n", true},
		{"misspelt field", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIPs: None, selectr: {}}\n", false},
		{"wrong case", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIp: None}\n", false},
		{"wrong type", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: high}]}\n", false},
		{"duplicate field", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: None, clusterIP: x}\n", false},
		{"misplaced field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: 1, containers: []}\n", false},
		{"unknown kind", "apiVersion: v1\nkind: Servise\nmetadata: {name: a}\n", false},
		{"PodMonitor", "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: a}\nspec: {podMetricsEndpoints: [{port: m}]}\n", true},
		{"PodMonitor typo", "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: a}\nspec: {podMetricEndpoints: [{port: m}]}\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeStrict([]byte(tt.doc))
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestManifestsDecodeStrictly(t *testing.T) {
	o := loadObjects(t)
	assert.Contains(t, o.namespaces, namespace)
	for _, name := range []string{"gateway-collector-headless", "agent-collector"} {
		assert.Contains(t, o.services, name)
	}
	assert.Contains(t, o.deployments, "gateway-collector")
	assert.Contains(t, o.daemonSets, "agent-collector")
	assert.Contains(t, o.pdbs, "gateway-collector")
}

func selects(t *testing.T, sel *metav1.LabelSelector, lbls map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	return !s.Empty() && s.Matches(labels.Set(lbls))
}

func TestGatewayTier(t *testing.T) {
	o := loadObjects(t)
	dep := o.deployments["gateway-collector"]
	require.NotNil(t, dep)
	podLabels := dep.Spec.Template.Labels

	assert.True(t, selects(t, dep.Spec.Selector, podLabels), "deployment selector must match its pod template")
	require.NotNil(t, dep.Spec.Replicas)
	assert.Equal(t, int32(3), *dep.Spec.Replicas)

	aff := dep.Spec.Template.Spec.Affinity
	require.NotNil(t, aff)
	require.NotNil(t, aff.PodAntiAffinity)
	terms := aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	require.Len(t, terms, 1)
	assert.Equal(t, corev1.LabelHostname, terms[0].TopologyKey)
	assert.True(t, selects(t, terms[0].LabelSelector, podLabels), "anti-affinity must select the gateways themselves")

	svc := o.services["gateway-collector-headless"]
	require.NotNil(t, svc)
	assert.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP, "the load-balancing exporter needs one DNS record per pod")
	assert.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(podLabels)), "headless service must select the gateway pods")

	c := onlyContainer(t, dep.Spec.Template.Spec)
	for _, p := range svc.Spec.Ports {
		assert.True(t, hasContainerPort(c, p.TargetPort.String(), p.TargetPort.IntVal), "service port %s targets no container port", p.Name)
	}
	svcPort := svc.Spec.Ports[0]
	assert.Equal(t, int32(4317), svcPort.Port)

	assert.Equal(t, "2Gi", ptrQ(c.Resources.Requests, corev1.ResourceMemory))
	assert.Equal(t, "500m", ptrQ(c.Resources.Requests, corev1.ResourceCPU))
	assert.Equal(t, "8Gi", ptrQ(c.Resources.Limits, corev1.ResourceMemory))
	assert.Equal(t, "2", ptrQ(c.Resources.Limits, corev1.ResourceCPU))
	assert.True(t, slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_IP" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP"
	}), "gateway must expose POD_IP")

	pdb := o.pdbs["gateway-collector"]
	require.NotNil(t, pdb)
	require.NotNil(t, pdb.Spec.MinAvailable)
	assert.Equal(t, 2, pdb.Spec.MinAvailable.IntValue())
	assert.Less(t, int32(pdb.Spec.MinAvailable.IntValue()), *dep.Spec.Replicas, "a PDB as large as the Deployment blocks every drain")
	assert.True(t, selects(t, pdb.Spec.Selector, podLabels), "pdb must select the gateway pods")

	checkConfigMount(t, o, dep.Spec.Template.Spec, "gateway-config-handoff.yaml")
}

// TestGatewayHandoff checks what the tail sampler's handoff needs from the
// pod: its own ring name from POD_IP, the agents' resolver block, the handoff
// port, a preStop sleep longer than both tiers' resolver intervals and a
// grace period that leaves the drain its time after it.
func TestGatewayHandoff(t *testing.T) {
	o := loadObjects(t)
	dep := o.deployments["gateway-collector"]
	require.NotNil(t, dep)
	spec := dep.Spec.Template.Spec
	c := onlyContainer(t, spec)

	gw := parseYAML(t, configMapFile(t, o, spec, "gateway-config-handoff.yaml"))
	ts := dig(t, gw, "processors", "tail_sampling")
	h := dig(t, ts, "handoff")
	assert.Equal(t, "${env:POD_IP}:4317", h["endpoint"], "the gateway names itself as the agents' ring does")
	ds := o.daemonSets["agent-collector"]
	require.NotNil(t, ds)
	agent := parseYAML(t, configMapFile(t, o, ds.Spec.Template.Spec, "agent-config.yaml"))
	agentResolver := dig(t, agent, "exporters", "loadbalancing", "resolver")
	assert.Equal(t, agentResolver, dig(t, h, "resolver"), "the gateways' resolver block is the agents', identical")

	listen, ok := dig(t, h, "listen")["endpoint"].(string)
	require.True(t, ok, "handoff::listen::endpoint")
	colon := strings.LastIndexByte(listen, ':')
	require.Positive(t, colon, listen)
	port := listen[colon+1:]
	assert.True(t, hasContainerPort(c, "handoff", 0), "the handoff port is named")
	assert.True(t, slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == "handoff" && fmt.Sprint(p.ContainerPort) == port
	}), "containerPort handoff is handoff::listen's port %s", port)
	assert.True(t, slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_IP" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP"
	}), "handoff::endpoint needs POD_IP")

	require.NotNil(t, c.Lifecycle, "gateway needs a preStop hook")
	require.NotNil(t, c.Lifecycle.PreStop)
	require.NotNil(t, c.Lifecycle.PreStop.Sleep, "preStop sleeps (the image has no shell)")
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	gwInterval := duration(t, dig(t, h, "resolver", "dns")["interval"])
	agentInterval := duration(t, dig(t, agentResolver, "dns")["interval"])
	assert.Greater(t, preStop, gwInterval+agentInterval,
		"preStop (%v) must outlast the gateways' (%v) and the agents' (%v) resolver intervals", preStop, gwInterval, agentInterval)

	require.NotNil(t, spec.TerminationGracePeriodSeconds)
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	window := duration(t, ts["decision_wait"]) // handoff::window defaults to it
	if w, ok := h["window"]; ok {
		window = duration(t, w)
	}
	batch := duration(t, dig(t, gw, "processors", "batch")["timeout"])
	assert.Greater(t, grace, preStop+window+batch,
		"grace (%v) must cover preStop (%v), the drain (window %v) and a batch timeout (%v)", grace, preStop, window, batch)
}

func parseYAML(t *testing.T, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &m))
	return m
}

// dig walks nested maps by key.
func dig(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		require.True(t, ok, "no map at key %q (in %v)", k, keys)
		m = next
	}
	return m
}

func duration(t *testing.T, v any) time.Duration {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "%v is not a duration string", v)
	d, err := time.ParseDuration(s)
	require.NoError(t, err)
	return d
}

func TestAgentTier(t *testing.T) {
	o := loadObjects(t)
	ds := o.daemonSets["agent-collector"]
	require.NotNil(t, ds)
	podLabels := ds.Spec.Template.Labels
	assert.True(t, selects(t, ds.Spec.Selector, podLabels), "daemonset selector must match its pod template")

	gwLabels := o.deployments["gateway-collector"].Spec.Template.Labels
	assert.False(t, labels.SelectorFromSet(o.services["gateway-collector-headless"].Spec.Selector).Matches(labels.Set(podLabels)),
		"agents must not be published as gateways")

	svc := o.services["agent-collector"]
	require.NotNil(t, svc)
	assert.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(podLabels)))
	assert.False(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(gwLabels)))
	c := onlyContainer(t, ds.Spec.Template.Spec)
	for _, p := range svc.Spec.Ports {
		assert.True(t, hasContainerPort(c, p.TargetPort.String(), p.TargetPort.IntVal), "service port %s targets no container port", p.Name)
	}

	sa := ds.Spec.Template.Spec.ServiceAccountName
	assert.Contains(t, o.serviceAccounts, sa)
	checkConfigMount(t, o, ds.Spec.Template.Spec, "agent-config.yaml")

	// The article's agent resolves the headless Service by its cluster DNS name.
	cfg := configMapFile(t, o, ds.Spec.Template.Spec, "agent-config.yaml")
	gw := o.services["gateway-collector-headless"]
	assert.Contains(t, cfg, fmt.Sprintf("hostname: %q", gw.Name+"."+gw.Namespace+".svc.cluster.local"))
	assert.Contains(t, cfg, fmt.Sprintf("port: %d", gw.Spec.Ports[0].Port))
	k8sCfg := configMapFile(t, o, ds.Spec.Template.Spec, "agent-config-k8s.yaml")
	assert.Contains(t, k8sCfg, "service: "+gw.Name+"."+gw.Namespace)

	// The persistent variant's storage directory is a host path mounted in
	// the agent, so that a restarted pod finds what the last one buffered.
	persistent := parseYAML(t, configMapFile(t, o, ds.Spec.Template.Spec, "agent-config-persistent.yaml"))
	dir, _ := dig(t, persistent, "extensions", "file_storage/lb")["directory"].(string)
	require.NotEmpty(t, dir)
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for _, v := range ds.Spec.Template.Spec.Volumes {
			if v.Name == m.Name {
				require.NotNil(t, v.HostPath, "volume %s for %s must be on the node", v.Name, dir)
				mounted = true
			}
		}
	}
	assert.True(t, mounted, "%s is mounted from the node", dir)
}

func TestResolverRBAC(t *testing.T) {
	o := loadObjects(t)
	sa := o.daemonSets["agent-collector"].Spec.Template.Spec.ServiceAccountName
	var granted bool
	for _, rb := range o.roleBindings {
		bound := slices.ContainsFunc(rb.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == namespace
		})
		if !bound {
			continue
		}
		require.Equal(t, "Role", rb.RoleRef.Kind)
		role, ok := o.roles[rb.RoleRef.Name]
		require.True(t, ok, "rolebinding %s refers to missing role %s", rb.Name, rb.RoleRef.Name)
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, "discovery.k8s.io") && slices.Contains(r.Resources, "endpointslices") {
				for _, v := range []string{"get", "list", "watch"} {
					assert.Contains(t, r.Verbs, v)
				}
				assert.NotContains(t, r.Verbs, "*", "read-only access is enough")
				granted = true
			}
		}
	}
	assert.True(t, granted, "the agents' service account must be able to watch endpointslices")
}

// TestConfigMapsMatchConfigs keeps the ConfigMaps byte-identical to the
// files in examples/configs, which the configs tests load and validate with
// the distribution's factories.
func TestConfigMapsMatchConfigs(t *testing.T) {
	o := loadObjects(t)
	for _, tc := range []struct{ cm, key string }{
		{"gateway-collector-config", "gateway-config.yaml"},
		{"gateway-collector-config", "gateway-config-handoff.yaml"},
		{"agent-collector-config", "agent-config.yaml"},
		{"agent-collector-config", "agent-config-k8s.yaml"},
		{"gateway-collector-config", opsKey},
		{"agent-collector-config", opsKey},
		{"agent-collector-config", "agent-config-persistent.yaml"},
	} {
		cm, ok := o.configMaps[tc.cm]
		require.True(t, ok, tc.cm)
		file := tc.key
		if tc.key == opsKey {
			file = filepath.Join("overlays", opsKey)
		}
		want, err := os.ReadFile(filepath.Join("..", "configs", file))
		require.NoError(t, err)
		assert.Equal(t, string(want), cm.Data[tc.key], "%s[%s] differs from configs/%s", tc.cm, tc.key, tc.key)
	}
}

func onlyContainer(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	require.Len(t, spec.Containers, 1)
	return spec.Containers[0]
}

func hasContainerPort(c corev1.Container, name string, num int32) bool {
	return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return (name != "" && p.Name == name) || (num != 0 && p.ContainerPort == num)
	})
}

func ptrQ(l corev1.ResourceList, r corev1.ResourceName) string {
	q, ok := l[r]
	if !ok {
		return ""
	}
	return q.String()
}

// configPath returns the path given to --config.
func configPath(t *testing.T, c corev1.Container) string {
	t.Helper()
	for _, a := range c.Args {
		if p, ok := strings.CutPrefix(a, "--config="); ok {
			return p
		}
	}
	t.Fatalf("container %s has no --config argument", c.Name)
	return ""
}

// checkConfigMount checks that --config names a key of a ConfigMap mounted
// at that directory, and that the ConfigMap exists.
func checkConfigMount(t *testing.T, o objects, spec corev1.PodSpec, wantKey string) {
	t.Helper()
	c := onlyContainer(t, spec)
	p := configPath(t, c)
	assert.Equal(t, wantKey, filepath.Base(p))
	_ = configMapFile(t, o, spec, filepath.Base(p))
}

// configMapFile returns the content of file key in the ConfigMap mounted at
// the directory of the container's --config path.
func configMapFile(t *testing.T, o objects, spec corev1.PodSpec, key string) string {
	t.Helper()
	c := onlyContainer(t, spec)
	dir := filepath.Dir(configPath(t, c))
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == dir {
			mount = &c.VolumeMounts[i]
		}
	}
	require.NotNil(t, mount, "nothing mounted at %s", dir)
	var vol *corev1.Volume
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == mount.Name {
			vol = &spec.Volumes[i]
		}
	}
	require.NotNil(t, vol, "volume %s is not declared", mount.Name)
	require.NotNil(t, vol.ConfigMap, "volume %s is not a ConfigMap", mount.Name)
	cm, ok := o.configMaps[vol.ConfigMap.Name]
	require.True(t, ok, "configmap %s does not exist", vol.ConfigMap.Name)
	data, ok := cm.Data[key]
	require.True(t, ok, "configmap %s has no key %s", cm.Name, key)
	require.NotEmpty(t, bytes.TrimSpace([]byte(data)))
	return data
}
