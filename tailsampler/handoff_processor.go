package tailsampler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/internal/failovermark"
	"github.com/tailgate-otel/tailgate/tailsampler/internal/handoff"
)

// handoffSampler is the processor when the `handoff:` block is set: the
// same sampler (which is the engine's Buffer), with the engine routing
// ingest and taking part in Start and Shutdown. Without the block the
// factory returns the bare sampler, so nothing of this runs.
type handoffSampler struct {
	*sampler
	eng *handoff.Engine
	log *zap.Logger
}

func newHandoffSampler(p *sampler, set processor.Settings, cfg *Config, extra []handoff.Option) (tailProcessor, error) {
	hc := cfg.Handoff.Get()
	// Decisions are remembered with their time for RecentDecisions, as
	// many as the decision caches hold: older ones could not be followed
	// by late spans anyway.
	perShard := max(minRecentPerShard,
		int(cfg.DecisionCache.SampledCacheSize+cfg.DecisionCache.NonSampledCacheSize)/len(p.shards))
	for _, s := range p.shards {
		s.recent = newDecisionRing(perShard)
	}
	opts := append([]handoff.Option{handoff.WithDecisionWait(cfg.DecisionWait)}, extra...)
	eng, err := handoff.New(*hc, set.TelemetrySettings, p, opts...)
	if err != nil {
		_ = p.Shutdown(context.Background())
		return nil, fmt.Errorf("tail_sampling: %w", err)
	}
	return &handoffSampler{sampler: p, eng: eng, log: set.Logger}, nil
}

// Start starts the sampler, then the engine (its listener and resolver):
// data handed over by peers must find running deciders.
func (h *handoffSampler) Start(ctx context.Context, host component.Host) error {
	if err := h.sampler.Start(ctx, host); err != nil {
		return err
	}
	return h.eng.Start(ctx, host)
}

// ConsumeTraces buffers the spans of the traces this gateway owns and
// forwards the others (sent here by an agent whose view is stale) to
// their owner. In the steady state Route returns td itself. A request an
// agent marked as failed over (load_balancing failover, package
// failovermark) is kept whole: its traces' owner is the gateway that agent
// could not reach, and forwarding would send them back to it (nor are
// they replicated: this gateway is not their owner). With
// handoff::replicate, the owned spans also go to their successors, and
// the call returns once they hold them: an acknowledged span is on two
// gateways (the round trip overlaps with buffering here).
func (h *handoffSampler) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if failovermark.Incoming(ctx) {
		return h.sampler.ConsumeTraces(ctx, td)
	}
	owned := h.eng.Route(td)
	r := h.eng.Replicate(owned)
	err := h.sampler.ConsumeTraces(ctx, owned)
	r.Wait(ctx)
	return err
}

// Shutdown hands every pending trace to the gateways that remain (Drain),
// stops the engine, then shuts the sampler down, which decides whatever
// is still here (what Drain could not deliver was given back to it).
// Drain gets half of the time left before ctx's deadline so that the
// sampler keeps time to decide and forward what comes back.
func (h *handoffSampler) Shutdown(ctx context.Context) error {
	dctx, cancel := drainContext(ctx)
	if err := h.eng.Drain(dctx); err != nil {
		h.log.Warn("handoff: some pending traces could not be handed off; they are decided here", zap.Error(err))
	}
	cancel()
	var errs []error
	if err := h.eng.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := h.sampler.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, time.Now().Add(time.Until(deadline)/2))
}

// withHandoffOptions passes options to the handoff engine (tests: an
// injected resolver, peer addresses of loopback listeners, short delays).
func withHandoffOptions(opts ...handoff.Option) Option {
	return optionFunc(func(o *options) { o.handoff = append(o.handoff, opts...) })
}
