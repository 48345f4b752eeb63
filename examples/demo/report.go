package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

func pct(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

// summary prints the table the demo ends with.
func summary(w io.Writer, results []result) {
	fmt.Fprintln(w, "\nSummary")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\thandoff\ttraces\terror traces\twhole\tsplit\tlost\tother traces kept\ttraces split (all)\tspan-metrics calls / spans sent\t")
	for _, r := range results {
		s := r.score
		ho := "-"
		switch {
		case r.phase.replicate:
			ho = "replicated"
		case r.phase.handoff:
			ho = "on"
		case r.phase.scale:
			ho = "off"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d (%s)\t%d\t%d\t%s\t%d\t%.0f / %d\t\n",
			r.phase.label(), ho, s.Traces, s.Errors.Sent, s.Errors.Complete, pct(s.Errors.Complete, s.Errors.Sent),
			s.Errors.Partial, s.Errors.Missing, pct(s.Others.Complete+s.Others.Partial, s.Others.Sent), s.Split(), r.calls, s.Spans)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "%s: %s\n", r.phase.label(), r.phase.title)
		switch {
		case r.phase.replicate:
			fmt.Fprintln(w, "   Every span a gateway acknowledges is also held by its trace's next ring choice until the trace is")
			fmt.Fprintln(w, "   decided: when the gateway dies, that successor decides its traces, on schedule, with the spans that")
			fmt.Fprintln(w, "   agents send it from then on (their load_balancing fails over to the same next ring choice).")
			continue
		case r.phase.crash:
			fmt.Fprintln(w, "   Handoff covers planned changes only: the traces the killed gateway held are lost, and their spans")
			fmt.Fprintln(w, "   that arrive afterwards are decided elsewhere as fragments.")
			continue
		case r.phase.handoff:
			fmt.Fprintln(w, "   Every gateway watches the same DNS name as the agents: the traces in flight that move to another")
			fmt.Fprintln(w, "   gateway are handed over whole with their first-seen time, and the leaving gateway drains on shutdown.")
			continue
		}
		switch r.phase.num {
		case 1:
			fmt.Fprintln(w, "   Each gateway sees a fragment of every trace: the fragment holding the error is kept, the rest dropped.")
		case 2:
			fmt.Fprintln(w, "   Every span of a trace reaches the same gateway, whichever agent it passed through: error traces arrive whole.")
		case 3:
			fmt.Fprintln(w, "   Traces in flight when the ring changes are split between the old and the new owner: what a scale event")
			fmt.Fprintln(w, "   costs without handoff (the upstream collector's behaviour).")
		}
	}
	fmt.Fprintln(w, "\nSpan metrics are computed before sampling, so they count every span in every phase (the reference traces/metrics pipeline).")
}
