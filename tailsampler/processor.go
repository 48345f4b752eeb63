package tailsampler

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/internal/gatestate"
	"github.com/tailgate-otel/tailgate/internal/ratelog"
	"github.com/tailgate-otel/tailgate/tailsampler/internal/policies"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// ErrStopped is returned by ConsumeTraces after Shutdown: the processor
// can no longer decide on the data, so it refuses it rather than lose it.
var ErrStopped = errors.New("tail_sampling processor is shut down")

const (
	// timerResolution: deciders wake on multiples of this after the
	// earliest deadline, so traces due close together share a round.
	timerResolution = 10 * time.Millisecond
	// idleWake bounds how long a decider sleeps with nothing scheduled.
	idleWake = time.Second
	// maxRound caps the traces one decision round takes, so forwarding
	// starts while a large backlog is still being decided.
	maxRound = 4096
	// stallThreshold: a decider that wakes this much later than it was
	// armed for was not running (the process was stopped, paused or
	// starved), and postpones every pending decision by the delay. Three
	// idle wake-ups: far beyond scheduling noise on a loaded machine.
	stallThreshold = 3 * time.Second
	// forwardQueueSpans is how many decided spans may wait for the next
	// consumer before ConsumeTraces applies back-pressure.
	forwardQueueSpans = 200_000
	logInterval       = 10 * time.Second
)

type tailProcessor = processor.Traces

// sampler is the tail-sampling processor. See doc.go for its guarantees.
type sampler struct {
	cfg      *Config
	set      component.TelemetrySettings
	clock    clock
	base     time.Time
	policies *policies.Set
	shards   []*shard
	fwd      *forwarder
	tel      *telemetry

	dw, dwr       int64
	spanIngest    bool
	hasDropPolicy bool
	needBytes     bool
	copyInput     bool

	runCtx    context.Context
	runCancel context.CancelFunc
	stopping  chan struct{}
	stopDec   chan struct{}
	stopFwd   chan struct{}
	decWG     sync.WaitGroup
	fwdDone   chan struct{}

	// inflight lets Shutdown wait for ConsumeTraces calls to leave.
	inflight  sync.RWMutex
	stateMu   sync.Mutex
	started   bool
	stopped   atomic.Bool
	scratch   sync.Pool
	warn      *ratelog.Logger
	lateWarn  *ratelog.Logger // late spans reversing a decision
	dropCount atomic.Int64    // traces dropped at shutdown, for tests
	decided   atomic.Int64    // traces decided, counted once their spans are queued
	// stallAfter is stallThreshold on the real clock, 0 (off) under a
	// test clock, whose jumps are not stalls.
	stallAfter atomic.Int64
}

var _ tailProcessor = (*sampler)(nil)

func newProcessor(set processor.Settings, cfg *Config, next consumer.Traces, clk clock) (*sampler, error) {
	if next == nil {
		return nil, errors.New("nil next consumer")
	}
	if clk == nil {
		clk = realClock{}
	}
	p := &sampler{
		cfg:        cfg,
		set:        set.TelemetrySettings,
		warn:       ratelog.New(set.Logger, logInterval),
		lateWarn:   ratelog.New(set.Logger, logInterval),
		clock:      clk,
		base:       clk.Now(),
		dw:         int64(cfg.DecisionWait),
		dwr:        int64(cfg.DecisionWaitAfterRootReceived),
		spanIngest: cfg.SamplingStrategy == StrategySpanIngest,
		needBytes:  cfg.MaxBufferedBytes > 0 || cfg.MaximumTraceSizeBytes > 0 || policies.UsesType(cfg.Policies, policies.TypeBytesLimiting),
		copyInput:  protoPoolingEnabled(),
		stopping:   make(chan struct{}),
		stopDec:    make(chan struct{}),
		stopFwd:    make(chan struct{}),
		fwdDone:    make(chan struct{}),
	}
	p.runCtx, p.runCancel = context.WithCancel(context.Background())
	if _, ok := clk.(realClock); ok {
		p.stallAfter.Store(int64(stallThreshold))
	}
	for _, pc := range cfg.Policies {
		if pc.Type == "drop" {
			p.hasDropPolicy = true
		}
	}
	tel, err := newTelemetry(set.TelemetrySettings, p)
	if err != nil {
		return nil, fmt.Errorf("creating telemetry: %w", err)
	}
	p.tel = tel
	ps, err := policies.New(cfg.Policies, cfg.policyTypes(), policy.Settings{
		Telemetry: set.TelemetrySettings,
		Now:       clk.Now,
	}, policies.Options{
		SampleOnFirstMatch: cfg.SampleOnFirstMatch,
		Meter:              set.MeterProvider.Meter(scopeName),
		ComponentName:      set.ID.Name(),
	})
	if err != nil {
		tel.close()
		return nil, fmt.Errorf("building policies: %w", err)
	}
	p.policies = ps
	if p.spanIngest {
		// Validate reports this too; a processor built from code without
		// Validate must not run a budget once per batch either.
		if names := ps.Stateful(); len(names) > 0 {
			ps.Close()
			tel.close()
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, statefulError(names))
		}
	}

	n := cfg.shardCount()
	capTraces := int((cfg.NumTraces + uint64(n) - 1) / uint64(n))
	var capBytes int64
	if cfg.MaxBufferedBytes > 0 {
		capBytes = int64((cfg.MaxBufferedBytes + uint64(n) - 1) / uint64(n))
	}
	initial := int(min(cfg.NumTraces, cfg.ExpectedNewTracesPerSec*uint64(max(1, cfg.DecisionWait/time.Second))) / uint64(n))
	sampledSize := int(cfg.DecisionCache.SampledCacheSize+uint64(n)-1) / n
	notSampledSize := int(cfg.DecisionCache.NonSampledCacheSize+uint64(n)-1) / n
	p.shards = make([]*shard, n)
	for i := range p.shards {
		p.shards[i] = newShard(p, capTraces, capBytes, initial, sampledSize, notSampledSize)
	}
	p.fwd = newForwarder(p, next, forwardQueueSpans)
	return p, nil
}

// protoPoolingEnabled reports whether pdata's pooling gate is on. With it,
// receivers may recycle a batch once ConsumeTraces returns, so the
// processor copies input instead of holding it.
func protoPoolingEnabled() bool { return gatestate.Enabled("pdata.useProtoPooling", false) }

func (p *sampler) nowNanos() int64 { return int64(p.clock.Now().Sub(p.base)) }

func (p *sampler) timeOf(n int64) time.Time { return p.base.Add(time.Duration(n)) }

func (p *sampler) shardOf(id pcommon.TraceID) int {
	if len(p.shards) == 1 {
		return 0
	}
	// Low bits of the random part of the ID; the caches use other bits.
	return int(binary.LittleEndian.Uint32(id[12:]) % uint32(len(p.shards)))
}

// Capabilities: the processor never changes data it may share with other
// consumers (read-only input: it forwards copies). It moves kept spans out
// of input that is not read-only, which by the fan-out's rules only it
// holds (see doc.go, Ownership): declaring that as mutation would only
// make the fan-out clone for it. record_policy asks for an attribute on
// sampled spans, declared as mutation as upstream does.
func (p *sampler) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: p.cfg.RecordPolicy}
}

// Start launches one decider per shard and the forwarder.
func (p *sampler) Start(context.Context, component.Host) error {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	if p.started || p.stopped.Load() {
		return nil
	}
	p.started = true
	for _, s := range p.shards {
		p.decWG.Add(1)
		go p.decider(s)
	}
	go func() {
		defer close(p.fwdDone)
		p.fwd.run(p.runCtx, p.stopFwd)
	}()
	return nil
}

// decider runs one shard's decisions. It knows when it should wake; when
// it wakes more than stallAfter (3 s) later, the whole process did not run for
// that long (SIGSTOP, a paused VM, a starved container) and neither did
// the agents' deliveries to it, which they buffered meanwhile: the delay
// is added to every pending deadline, so decision_wait counts only time
// this gateway was running and the spans held for it still count.
func (p *sampler) decider(s *shard) {
	defer p.decWG.Done()
	armed := p.nowNanos() + int64(idleWake)
	t := p.clock.NewTimer(idleWake)
	defer t.Stop()
	for {
		select {
		case <-p.stopDec:
			return
		case <-t.C():
		case <-s.wake:
		}
		if late := p.nowNanos() - armed; p.stallAfter.Load() > 0 && late > p.stallAfter.Load() {
			n := s.postpone(late)
			p.warn.Warn("tail_sampling: the process did not run for a while (stopped, paused or starved); pending decisions are postponed by as much",
				zap.Duration("stalled", time.Duration(late)), zap.Int("traces", n))
		}
		next, more := s.decideDue(maxRound)
		if more {
			armed = p.nowNanos()
			select {
			case s.wake <- struct{}{}:
			default:
			}
			continue
		}
		wait := idleWake
		now := p.nowNanos()
		if next != math.MaxInt64 {
			// Round up to the resolution: never early, at most 10 ms late.
			d := next - now
			if d < 0 {
				d = 0
			}
			res := int64(timerResolution)
			wait = time.Duration((d + res - 1) / res * res)
			if wait > idleWake {
				wait = idleWake
			}
		}
		armed = now + int64(wait)
		t.ResetAt(p.timeOf(armed))
	}
}

// ConsumeTraces buffers td. It returns once the spans are indexed; it
// never waits for a decision. It waits (honouring ctx) only when the
// forward queue is full, or num_traces is full and block_on_overflow is set.
func (p *sampler) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return p.ingest(ctx, td, seenNow)
}

// seenNow asks ingest to stamp new traces with the current time.
const seenNow = math.MinInt64

// ingest is ConsumeTraces with an optional first-seen time for new traces
// (clock nanoseconds since the processor's base; seenNow for now). The
// time may be before the base (a handed-over trace).
func (p *sampler) ingest(ctx context.Context, td ptrace.Traces, firstSeen int64) error {
	if p.stopped.Load() {
		return ErrStopped
	}
	p.inflight.RLock()
	defer p.inflight.RUnlock()
	if p.stopped.Load() {
		return ErrStopped
	}
	if td.SpanCount() == 0 {
		return nil
	}
	if !p.fwd.waitRoom(ctx) {
		if p.stopped.Load() {
			return ErrStopped
		}
		return fmt.Errorf("waiting for the next consumer: %w", ctx.Err())
	}
	// Not read-only: the fan-out gave this batch to this processor alone
	// (it marks shared batches read-only), so kept spans may be moved out.
	owned := !td.IsReadOnly()
	if p.copyInput {
		cp := ptrace.NewTraces()
		td.CopyTo(cp)
		td, owned = cp, true
	}
	sc := p.getScratch()
	defer p.putScratch(sc)
	b := &heldBatch{td: td, owned: owned}
	if p.needBytes {
		b.sizes = measureBatch(td)
	}
	sc.collect(p, b)
	var st ingestStats
	for si, items := range sc.byShard {
		if len(items) == 0 {
			continue
		}
		p.shards[si].ingest(ctx, items, firstSeen, sc.out, &st)
	}
	if out, n, ok := sc.out.take(); ok {
		p.fwd.enqueue(out, n)
	}
	if st.blocked {
		p.tel.backpressure.Add(p.runCtx, 1)
	}
	p.recordStats(&st)
	return nil
}

// scratch is per-call working memory, pooled so ingest does not allocate
// per span.
type scratch struct {
	items   []ingestItem
	byShard [][]ingestItem
	counts  []int
	out     *outBuilder
}

func (p *sampler) getScratch() *scratch {
	if v := p.scratch.Get(); v != nil {
		return v.(*scratch)
	}
	return &scratch{
		byShard: make([][]ingestItem, len(p.shards)),
		counts:  make([]int, len(p.shards)),
		out:     newOutBuilder(p.cfg.RecordPolicy),
	}
}

func (p *sampler) putScratch(sc *scratch) {
	clear(sc.items) // drop batch references
	sc.items = sc.items[:0]
	for i := range sc.byShard {
		sc.byShard[i] = nil
	}
	if cap(sc.items) > 1<<16 {
		sc.items = nil
	}
	p.scratch.Put(sc)
}

// collect reads every span once, outside any lock, and groups the spans by
// shard (a stable counting sort, so a trace's spans keep their order).
func (sc *scratch) collect(p *sampler, b *heldBatch) {
	n := b.td.SpanCount()
	if cap(sc.items) < 2*n {
		sc.items = make([]ingestItem, 0, 2*n)
	}
	items := sc.items[:n]
	clear(sc.counts)
	k := 0
	rss := b.td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for l := 0; l < spans.Len(); l++ {
				sp := spans.At(l)
				it := &items[k]
				k++
				it.ref = spanRef{b: b, rs: uint32(i), ss: uint32(j), sp: uint32(l)}
				it.id = sp.TraceID()
				it.start = sp.StartTimestamp()
				it.end = sp.EndTimestamp()
				it.root = sp.ParentSpanID().IsEmpty()
				it.bytes = 0
				if p.needBytes {
					it.bytes = int32(min(spanBytes(sp), math.MaxInt32))
				}
				s := p.shardOf(it.id)
				it.shard = uint16(s)
				sc.counts[s]++
			}
		}
	}
	if len(p.shards) == 1 {
		sc.byShard[0] = items
		return
	}
	sorted := sc.items[n : 2*n]
	off := 0
	for s, c := range sc.counts {
		sc.byShard[s] = sorted[off : off : off+c]
		off += c
	}
	for i := range items {
		s := items[i].shard
		sc.byShard[s] = append(sc.byShard[s], items[i])
	}
}

func (p *sampler) recordStats(st *ingestStats) {
	ctx := p.runCtx
	t := p.tel
	if st.newTraces > 0 {
		t.newTraceID.Add(ctx, st.newTraces)
	}
	if st.lateSampled > 0 {
		t.earlyReleases.Add(ctx, st.lateSampled, t.cachedSampled)
	}
	if n := st.lateDropped + st.lateReversed; n > 0 {
		// Reversed spans hit the not-sampled cache too, then a policy kept them.
		t.earlyReleases.Add(ctx, n, t.cachedNotSampled)
	}
	if st.lateReversed > 0 {
		p.recordReversed(st.lateReversed)
	}
	if st.tooLarge > 0 {
		t.droppedTooLarge.Add(ctx, st.tooLarge)
	}
	if st.earlyTraces > 0 {
		t.earlyDecisions.Add(ctx, st.earlyTraces, t.earlyNumTraces)
	}
	if st.earlyBytes > 0 {
		t.earlyDecisions.Add(ctx, st.earlyBytes, t.earlyBufferedSize)
	}
	if st.sampledCount > 0 {
		t.globalSampled.Add(ctx, st.sampledCount, t.decidedSampled)
	}
	if n := st.droppedCount - st.vetoedCount; n > 0 {
		t.globalSampled.Add(ctx, n, t.decidedNotSampled)
	}
	if st.vetoedCount > 0 {
		t.globalSampled.Add(ctx, st.vetoedCount, t.decidedDropped)
	}
	if n := st.sampledCount + st.droppedCount; n > 0 {
		p.decided.Add(n)
	}
}

func (p *sampler) recordLateAge(now int64, decidedAtSec uint32) {
	age := now/int64(time.Second) - int64(decidedAtSec)
	p.tel.lateSpanAge.Record(p.runCtx, max(age, 0))
}

// bufferedTotals sums pending traces and buffered bytes over the shards.
func (p *sampler) bufferedTotals() (traces, bytes int64) {
	for _, s := range p.shards {
		s.mu.Lock()
		traces += int64(s.pending)
		bytes += s.bytes
		s.mu.Unlock()
	}
	return traces, bytes
}

// Shutdown decides every pending trace (or, with
// drop_pending_traces_on_shutdown, drops and counts it), forwards what was
// kept, and stops every goroutine, all within ctx's deadline: whatever
// cannot be decided or forwarded in time is counted as dropped.
func (p *sampler) Shutdown(ctx context.Context) error {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	if p.stopped.Load() {
		return nil
	}
	p.stopped.Store(true)
	close(p.stopping) // wake ConsumeTraces calls waiting for room
	p.inflight.Lock() // and wait for every call to leave
	defer p.inflight.Unlock()

	close(p.stopDec)
	p.decWG.Wait()

	var dropped int64
	for _, s := range p.shards {
		dropped += s.drainAll(ctx, p.cfg.DropPendingTracesOnShutdown)
	}
	if dropped > 0 {
		p.tel.droppedOnShutdown.Add(p.runCtx, dropped)
		p.dropCount.Add(dropped)
	}

	var err error
	if p.started {
		close(p.stopFwd)
		select {
		case <-p.fwdDone:
		case <-ctx.Done():
			// Make the forwarder give up: it counts what is left as lost.
			p.runCancel()
			<-p.fwdDone
			err = ctx.Err()
		}
	} else {
		p.fwd.run(ctx, closedChan)
	}
	for _, s := range p.shards {
		s.mu.Lock()
		s.index = nil
		s.entries = nil
		s.free = nil
		s.queue = deadlineQueue{}
		s.mu.Unlock()
	}
	p.runCancel()
	p.policies.Close()
	p.tel.close()
	return err
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// defaultShards is num_shards' automatic value: one shard per core, so
// ingest and decisions of different traces run in parallel.
func defaultShards() int { return min(runtime.GOMAXPROCS(0), maxShards) }

// pendingTotal is the number of buffered traces, including those whose
// policies are running.
func (p *sampler) pendingTotal() int64 {
	n, _ := p.bufferedTotals()
	return n
}
