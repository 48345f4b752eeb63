// Package e2e runs the reference deployment on one machine and checks its
// promises end to end: the examples' collector distribution is built, three
// gateways and two agents run as separate processes with the reference configs'
// loopback variants (gateways on 127.0.x.2-4:4317, agents on 127.0.x.5-6),
// traces are sent with every trace's spans spread over both agents, and a
// backend sink checks that every error trace and every slow trace arrived
// whole, that the probabilistic share is near 10 %, that span metrics counted
// every span (before sampling) on the gateways' prometheus endpoints, and
// that every process exits cleanly on SIGTERM. It runs once with the static
// resolver and once with the DNS resolver pointed at a DNS server on
// loopback.
//
// The test builds the binary without -race (to keep it fast) and takes about
// 1.5 minutes, most of it the configs' decision_wait (30 s) and span
// metrics flush interval (60 s), which the loopback variants keep. It is
// skipped with -short.
//
// TestScaleEvents and TestReplication run scenarios concurrently, each a
// deployment of its own on 127.0.<n>.x with its own DNS server and sink,
// timings scaled down (decision_wait 5 s, resolvers every second): scale
// up, scale down and rolling restarts with handoff on and off, the same
// with replication, and gateways killed with SIGKILL (restarted 2 s later
// on the same address, or never) with replication and without. Every
// scenario fails when an error trace is missing entirely at the sink and
// no process counted a drop. TAILGATE_E2E_SCENARIOS selects scenarios by
// name, TAILGATE_E2E_LOGS keeps every process's log in a directory.
package e2e
