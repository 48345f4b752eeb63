package k8s

import (
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// admitted reports whether np lets a pod with labels from (same namespace)
// reach TCP port of the pods it selects.
func admitted(t *testing.T, np *networkingv1.NetworkPolicy, from map[string]string, port int32) bool {
	t.Helper()
	for _, rule := range np.Spec.Ingress {
		peerOK := len(rule.From) == 0
		for _, p := range rule.From {
			if p.PodSelector != nil && p.NamespaceSelector == nil && p.IPBlock == nil && selects(t, p.PodSelector, from) {
				peerOK = true
			}
		}
		portOK := len(rule.Ports) == 0
		for _, p := range rule.Ports {
			if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
				continue
			}
			require.NotNil(t, p.Port, "a port rule without a port")
			lo := p.Port.IntVal
			hi := lo
			if p.EndPort != nil {
				hi = *p.EndPort
			}
			if lo <= port && port <= hi {
				portOK = true
			}
		}
		if peerOK && portOK {
			return true
		}
	}
	return false
}

// TestHandoffIsClosedToAllButGateways checks the manifests' defence of the
// handoff port: the NetworkPolicy admits gateway pods only to it and
// leaves every other port as it was; the gateways listen on their pod IP
// with mutual TLS from the Secret the Deployment mounts, which the
// cert-manager example makes for the name the peers check.
func TestHandoffIsClosedToAllButGateways(t *testing.T) {
	o := loadObjects(t)
	dep := o.deployments["gateway-collector"]
	require.NotNil(t, dep)
	gwLabels := dep.Spec.Template.Labels
	agentLabels := o.daemonSets["agent-collector"].Spec.Template.Labels
	np := o.networkPolicies["gateway-collector-handoff"]
	require.NotNil(t, np)
	assert.True(t, selects(t, &np.Spec.PodSelector, gwLabels), "the policy applies to the gateway pods")
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes)
	assert.True(t, admitted(t, np, gwLabels, 4319), "gateways reach each other's handoff port")
	assert.False(t, admitted(t, np, agentLabels, 4319), "agents do not")
	assert.False(t, admitted(t, np, map[string]string{"app": "anything"}, 4319), "nor does any other pod")
	c := onlyContainer(t, dep.Spec.Template.Spec)
	for _, p := range c.Ports {
		if p.Name != "handoff" {
			assert.True(t, admitted(t, np, agentLabels, p.ContainerPort), "port %s (%d) stays open", p.Name, p.ContainerPort)
		}
	}
	for _, p := range []int32{1, 4317, 4318, 4320, 8888, 13133, 65535} {
		assert.True(t, admitted(t, np, map[string]string{"app": "anything"}, p), "port %d stays open", p)
	}

	gw := parseYAML(t, configMapFile(t, o, dep.Spec.Template.Spec, "gateway-config-handoff.yaml"))
	h := dig(t, gw, "processors", "tail_sampling", "handoff")
	listen := dig(t, h, "listen")
	assert.Equal(t, "${env:POD_IP}:4319", listen["endpoint"], "listens on the pod IP only")
	ltls := dig(t, listen, "tls")
	ctls := dig(t, h, "client", "tls")
	files := []any{ltls["cert_file"], ltls["key_file"], ltls["client_ca_file"], ctls["ca_file"], ctls["cert_file"], ctls["key_file"]}
	mount := ""
	for _, m := range c.VolumeMounts {
		if m.Name == "handoff-tls" {
			mount = m.MountPath
			assert.True(t, m.ReadOnly)
		}
	}
	require.NotEmpty(t, mount, "the handoff certificate is mounted")
	for _, f := range files {
		s, ok := f.(string)
		require.True(t, ok, "%v", f)
		assert.Equal(t, mount, path.Dir(s), "%s is in the mounted Secret", s)
		assert.Contains(t, []string{"ca.crt", "tls.crt", "tls.key"}, path.Base(s), "a key cert-manager writes")
	}
	i := slices.IndexFunc(dep.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "handoff-tls" })
	require.GreaterOrEqual(t, i, 0)
	secret := dep.Spec.Template.Spec.Volumes[i].Secret
	require.NotNil(t, secret)

	// The cert-manager example (not applied with the rest: it needs
	// cert-manager's CRDs) makes that Secret for the name peers check.
	raw, err := os.ReadFile("cert-manager/handoff-certificate.yaml")
	require.NoError(t, err)
	var leaf map[string]any
	for _, doc := range docSep.Split(string(raw), -1) {
		m := parseYAML(t, doc)
		md := dig(t, m, "metadata")
		assert.Equal(t, namespace, md["namespace"], md["name"])
		if m["kind"] == "Certificate" && dig(t, m, "spec")["secretName"] == secret.SecretName {
			leaf = dig(t, m, "spec")
		}
	}
	require.NotNil(t, leaf, "a Certificate writes Secret %s", secret.SecretName)
	assert.Contains(t, leaf["dnsNames"], ctls["server_name_override"], "the certificate names what peers check")
	usages := strings.Join(toStrings(leaf["usages"]), ",")
	assert.Equal(t, "server auth,client auth", usages, "one certificate serves both sides")
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
