// Command demo runs the reference architecture's story on one machine in about a minute
// and a half, with no setup: a backend, gateways and two agents wired over
// real OTLP/gRPC on 127.0.0.x (collectors built with otelcol from the same
// factories as the examples' distribution: in this process, or, when a
// gateway is to be killed, as child processes of this program), and a
// generator whose traces spread their spans over ~3 s and over both
// agents, 2 % of them with an error span.
//
//	cd examples && go run ./demo            # or: make -C examples demo
//
// Phase 1 routes without trace IDs (round robin): error traces arrive split.
// Phase 2 uses tailgate's load_balancing exporter: every error trace arrives
// whole. Phase 3 adds a gateway and removes one mid-run: what a scale event
// costs, and (3h) what handoff saves. Phase 4 kills a gateway without
// warning (SIGKILL): what a crash costs, and (4r) what replication saves.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if config := os.Getenv(childEnv); config != "" {
		os.Exit(runChild(config))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, errOut io.Writer) (settings, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var s settings
	fs.IntVar(&s.rate, "rate", 300, "traces started per second")
	fs.DurationVar(&s.duration, "duration", 5*time.Second, "traffic per phase")
	fs.IntVar(&s.gateways, "gateways", 3, "gateways at the start of each phase (1-50)")
	fs.DurationVar(&s.decisionWait, "decision-wait", 4*time.Second, "tail_sampling decision_wait (must exceed -spread)")
	fs.DurationVar(&s.spread, "spread", 3*time.Second, "time between a trace's first and last span")
	fs.IntVar(&s.errorEvery, "error-every", 50, "every Nth trace has an error span (50 = 2 %)")
	phases := fs.String("phases", "1,2,3,4", "phases to run, comma-separated")
	fs.StringVar(&s.logLevel, "log-level", "error", "collectors' log level (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	var errs []error
	if s.rate <= 0 {
		errs = append(errs, errors.New("-rate: must be positive"))
	}
	if s.duration < 500*time.Millisecond {
		errs = append(errs, errors.New("-duration: must be at least 500ms"))
	}
	if s.gateways < 1 || s.gateways > 50 {
		errs = append(errs, errors.New("-gateways: must be between 1 and 50"))
	}
	if s.spread <= 0 {
		errs = append(errs, errors.New("-spread: must be positive"))
	}
	if s.decisionWait <= s.spread {
		errs = append(errs, errors.New("-decision-wait: must exceed -spread, or no trace is whole when decided"))
	}
	if s.errorEvery < 1 {
		errs = append(errs, errors.New("-error-every: must be positive"))
	}
	for _, f := range strings.Split(*phases, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > len(allPhases) {
			errs = append(errs, fmt.Errorf("-phases: %q is not a phase (1-%d)", f, len(allPhases)))
			continue
		}
		s.phases = append(s.phases, n)
	}
	return s, errors.Join(errs...)
}

func run(ctx context.Context, args []string, out io.Writer) error {
	s, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	_, err = runDemo(ctx, s, out)
	return err
}

func runDemo(ctx context.Context, s settings, out io.Writer) ([]result, error) {
	d, err := newDemo(s, out)
	if err != nil {
		return nil, err
	}
	defer d.close()
	fmt.Fprintf(out, "tailgate demo: %d traces/s for %v per phase, spans of each trace spread over %v and over %d agents, 1 in %d traces with an error, %d gateways, decision_wait %v\n",
		s.rate, s.duration, s.spread, agents, s.errorEvery, s.gateways, s.decisionWait)
	var results []result
	for _, n := range s.phases {
		todo := []phase{allPhases[n-1]}
		if t, ok := twin(todo[0]); ok {
			todo = append(todo, t)
		}
		for _, p := range todo {
			r, err := d.run(ctx, p)
			if err != nil {
				return results, err
			}
			results = append(results, r)
		}
	}
	summary(out, results)
	return results, nil
}
