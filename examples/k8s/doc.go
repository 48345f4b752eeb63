// Package k8s holds the Kubernetes manifests of the reference deployment
// (namespace, headless Service, gateway Deployment and PodDisruptionBudget,
// agent DaemonSet and Service, ConfigMaps, RBAC for the k8s resolver), the
// examples in optional/ applied only by hand (a HorizontalPodAutoscaler for
// the gateways, a PodMonitor for the Prometheus Operator), and the tests
// that keep them honest: every manifest decodes strictly into its typed
// k8s.io/api object, so a misspelt field fails, and the objects agree with
// each other (selectors, ConfigMap names and keys, ports, probes, scrape
// annotations, RBAC subjects) and with examples/configs.
//
// The package has no code to import; apply the YAML files in name order
// (`kubectl apply -f examples/k8s/`).
package k8s
