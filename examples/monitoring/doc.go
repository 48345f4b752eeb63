// Package monitoring ships the Prometheus rules and the Grafana dashboard
// for both tailgate tiers, and reads them for the tests that keep them
// honest.
//
//   - tailgate-rules.yaml: recording rules and alerts (load them with
//     Prometheus's rule_files, or wrap them in a PrometheusRule);
//   - tailgate-rules.test.yaml: promtool unit tests of every alert;
//   - tailgate-dashboard.json: a Grafana dashboard (import it, pick the
//     Prometheus data source).
//
// This package's tests run promtool (check and unit tests), check that
// every alert has a runbook line in examples/README.md and a unit test,
// and that every tailgate metric the rules and the dashboard use is
// documented by its component. examples/e2e runs a real Prometheus with
// these rules against the distribution's collectors and checks that every
// metric they use is scraped, every rule evaluates, the provoked alerts go
// pending and every dashboard query returns data.
package monitoring
