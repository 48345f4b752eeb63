package main

import (
	"bytes"
	"text/template"
	"time"
)

// The demo's gateway: the reference gateway-config.yaml with timings scaled
// down so that a phase takes seconds: decision_wait from -decision-wait, a
// 200 ms batch, span metrics in delta temporality flushed every second and
// exported to the backend next to the sampled traces. With Handoff, the
// tail sampler's handoff block (configs/gateway-config-handoff.yaml): the
// gateway names itself as the agents' ring does and watches the same DNS
// name with the agents' resolver settings.
var gatewayTmpl = template.Must(template.New("gateway").Parse(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "{{.Listen}}"
processors:
  tail_sampling:
    decision_wait: {{.DecisionWait}}
    num_traces: 50000
    sampled_cache_size: 100000
    non_sampled_cache_size: 100000
    policies:
      - name: errors-policy
        type: status_code
        status_code: {status_codes: [ERROR]}
      - name: slow-traces-policy
        type: latency
        latency: {threshold_ms: 1000}
      - name: probabilistic-policy
        type: probabilistic
        probabilistic: {sampling_percentage: 10}
{{- if .Handoff}}
    handoff:
      endpoint: "{{.Listen}}"
      resolver:
        dns:
          hostname: "{{.Hostname}}"
          port: {{.Port}}
          interval: 1s
          timeout: 500ms
          nameserver: "{{.Nameserver}}"
      listen:
        endpoint: "{{.HandoffListen}}"
{{- if .Replicate}}
      replicate: true
      replica_grace: 1s
{{- end}}
{{- end}}
  batch:
    timeout: 200ms
    send_batch_size: 1000
connectors:
  spanmetrics:
    aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA
    metrics_flush_interval: 1s
    dimensions:
      - name: http.method
      - name: http.status_code
exporters:
  otlp/backend:
    endpoint: "{{.Backend}}"
    tls: {insecure: true}
service:
  telemetry:
    logs: {level: {{.LogLevel}}}
    metrics: {level: none}
  pipelines:
    traces/metrics:
      receivers: [otlp]
      exporters: [spanmetrics]
    traces/sampling:
      receivers: [otlp]
      processors: [tail_sampling, batch]
      exporters: [otlp/backend]
    metrics:
      receivers: [spanmetrics]
      exporters: [otlp/backend]
`))

// The demo's agent. RoundRobin is phase 1: what a plain Service in front of
// the gateways gives, one batch to each gateway in turn (gRPC's round_robin
// balancer over the same DNS name). Otherwise the reference agent: the
// load_balancing exporter routing by trace ID over the gateways found in
// DNS, with failover in phase 4 (a killed gateway's spans go to the next
// ring choice, which, with replication, holds their traces).
var agentTmpl = template.Must(template.New("agent").Parse(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "{{.Listen}}"
processors:
  batch:
    timeout: 200ms
    send_batch_size: 1000
exporters:
{{- if .RoundRobin}}
  otlp/gateways:
    endpoint: "dns://{{.Nameserver}}/{{.Hostname}}:{{.Port}}"
    balancer_name: round_robin
    tls: {insecure: true}
{{- else}}
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        tls: {insecure: true}
{{- if .Failover}}
        retry_on_failure: {enabled: false}
    failover: {enabled: true, max_consecutive_failures: 1}
{{- end}}
    resolver:
      dns:
        hostname: "{{.Hostname}}"
        port: {{.Port}}
        interval: 1s
        timeout: 500ms
        nameserver: "{{.Nameserver}}"
{{- end}}
service:
  telemetry:
    logs: {level: {{.LogLevel}}}
    metrics: {level: none}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [{{if .RoundRobin}}otlp/gateways{{else}}loadbalancing{{end}}]
`))

type gatewayParams struct {
	Listen, Backend, LogLevel string
	DecisionWait              time.Duration
	Handoff                   bool
	// Replicate: handoff::replicate, its grace scaled like decision_wait.
	Replicate bool
	// With Handoff: the agents' resolver settings and the handoff listener.
	Hostname, Nameserver, HandoffListen string
	Port                                int
}

type agentParams struct {
	Listen, Hostname, Nameserver, LogLevel string
	Port                                   int
	RoundRobin                             bool
	// Failover: a gateway's spans go to their next ring choice at the first
	// failed export (crash phases), instead of waiting in retries.
	Failover bool
}

func render(t *template.Template, data any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
