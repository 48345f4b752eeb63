package spanmetrics

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// scopeName is upstream's instrumentation scope name, kept so that queries
// filtering on otel_scope_name keep working.
const scopeName = "spanmetricsconnector"

// snap is a copy of one series' state taken under its shard lock, so that
// building pdata happens without holding any lock.
type snap struct {
	s            *series
	start        pcommon.Timestamp
	count        uint64
	sum          float64
	bOff, bLen   int
	exOff, exLen int
	expo         expoHist // counts point into flushBuffers.buckets
}

// flushBuffers are reused across flushes; only the flush goroutine (under
// flushMu) touches them.
type flushBuffers struct {
	gen uint64 // current flush generation; series.snapGen == gen means snapshotted now
	// order holds every live series in output order (resource, kind, series
	// creation), carried from flush to flush so that only the series created
	// since the last flush (fresh) are sorted and then merged in: a steady
	// state flush does no sorting at all.
	order   []*series
	merged  []*series
	fresh   []*series
	snaps   []snap
	buckets []uint64
	ex      []exemplar
	idle    []*series
}

// flush emits every series due (all of them for cumulative, those updated
// since the last flush for delta), then applies expiry and eviction.
func (c *spanConnector) flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	now := c.now()
	nowN := now.UnixNano()
	ts := pcommon.NewTimestampFromTime(now)

	if exp := int64(c.cfg.MetricsExpiration); exp > 0 {
		c.resMu.Lock()
		var gone []*resource
		for _, head := range c.resources {
			for r := head; r != nil; r = r.next {
				if nowN-r.lastSeen.Load() >= exp {
					gone = append(gone, r)
				}
			}
		}
		for _, r := range gone {
			c.removeResourceLocked(r)
			r.expired.Store(true)
		}
		c.resMu.Unlock()
		if len(gone) > 0 {
			c.tel.resourcesRemoved.Add(ctx, int64(len(gone)), reason("expired"))
		}
	}

	fb := &c.flushBuf
	fb.gen++
	fb.fresh = fb.fresh[:0]
	fb.snaps, fb.buckets, fb.ex, fb.idle = fb.snaps[:0], fb.buckets[:0], fb.ex[:0], fb.idle[:0]
	var expired, resGone int64
	seriesExp := int64(c.cfg.SeriesExpiration)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, head := range sh.series {
			for s := head; s != nil; {
				next := s.next
				if !s.listed {
					s.listed = true
					fb.fresh = append(fb.fresh, s)
				}
				if !c.delta || s.dirty {
					c.snapshot(fb, s, ts)
				} else if !s.res.evicted.Load() && !s.res.expired.Load() {
					fb.idle = append(fb.idle, s)
				}
				s.ex = s.ex[:0]
				s.dirty = false
				switch {
				case s.res.evicted.Load() || s.res.expired.Load():
					sh.remove(s)
					resGone++
				case seriesExp > 0 && nowN-s.lastSeen >= seriesExp:
					sh.remove(s)
					expired++
				}
				s = next
			}
		}
		sh.mu.Unlock()
	}
	if expired > 0 {
		c.tel.seriesRemoved.Add(ctx, expired, reason("expired"))
	}
	if resGone > 0 {
		c.tel.seriesRemoved.Add(ctx, resGone, reason("resource_removed"))
	}
	if c.delta {
		c.trimIdle(ctx, fb)
	}
	c.mergeOrder(fb)
	defer c.compactOrder(fb)

	if len(fb.snaps) == 0 {
		return nil
	}
	md := c.build(fb, ts)
	if err := c.next.ConsumeMetrics(ctx, md); err != nil {
		c.tel.flushFailures.Add(ctx, 1)
		return fmt.Errorf("span_metrics: next consumer refused %d data points: %w", md.DataPointCount(), err)
	}
	return nil
}

func (c *spanConnector) snapshot(fb *flushBuffers, s *series, ts pcommon.Timestamp) {
	sn := snap{s: s, start: s.start, count: s.count, sum: s.sum}
	if c.delta && s.lastEmit != 0 {
		sn.start = s.lastEmit
	}
	if s.buckets != nil {
		sn.bOff, sn.bLen = len(fb.buckets), len(s.buckets)
		fb.buckets = append(fb.buckets, s.buckets...)
	}
	if s.expo != nil {
		sn.expo = *s.expo
		sn.bOff, sn.bLen = len(fb.buckets), len(s.expo.counts)
		fb.buckets = append(fb.buckets, s.expo.counts...)
		sn.expo.counts = nil
	}
	sn.exOff, sn.exLen = len(fb.ex), len(s.ex)
	fb.ex = append(fb.ex, s.ex...)
	s.snapGen, s.snapIdx = fb.gen, len(fb.snaps)
	fb.snaps = append(fb.snaps, sn)
	if c.delta {
		s.lastEmit = ts
		s.count, s.sum = 0, 0
		clear(s.buckets)
		if s.expo != nil {
			s.expo.reset()
		}
	}
}

// trimIdle bounds how many idle delta series (remembered only for their
// start timestamp) are kept: metric_timestamp_cache_size, oldest first out.
func (c *spanConnector) trimIdle(ctx context.Context, fb *flushBuffers) {
	extra := len(fb.idle) - c.tsCacheSize
	if extra <= 0 {
		return
	}
	slices.SortFunc(fb.idle, func(a, b *series) int { return cmp.Compare(a.lastSeen, b.lastSeen) })
	var n int64
	for _, s := range fb.idle[:extra] {
		sh := &c.shards[s.hash&(numShards-1)]
		sh.mu.Lock()
		if !s.dirty {
			sh.remove(s)
			n++
		}
		sh.mu.Unlock()
	}
	c.tel.seriesRemoved.Add(ctx, n, reason("idle_delta"))
}

// compareSeries is the output order: resource creation, then kind (one
// metric after the other), then series creation.
func compareSeries(a, b *series) int {
	if r := cmp.Compare(a.res.id, b.res.id); r != 0 {
		return r
	}
	if r := cmp.Compare(a.kind, b.kind); r != 0 {
		return r
	}
	return cmp.Compare(a.seq, b.seq)
}

// mergeOrder sorts the series first listed in this flush and merges them
// into the carried order. Series removed without a last emission leave the
// order here; those emitted one last time leave it in compactOrder.
func (c *spanConnector) mergeOrder(fb *flushBuffers) {
	slices.SortFunc(fb.fresh, compareSeries)
	keep := func(s *series) bool { return !s.removed || s.snapGen == fb.gen }
	out := fb.merged[:0]
	old, fresh := fb.order, fb.fresh
	for len(old) > 0 && len(fresh) > 0 {
		if compareSeries(fresh[0], old[0]) < 0 {
			if keep(fresh[0]) {
				out = append(out, fresh[0])
			}
			fresh = fresh[1:]
		} else {
			if keep(old[0]) {
				out = append(out, old[0])
			}
			old = old[1:]
		}
	}
	for _, s := range old {
		if keep(s) {
			out = append(out, s)
		}
	}
	for _, s := range fresh {
		if keep(s) {
			out = append(out, s)
		}
	}
	clear(fb.order) // no stale pointers keep removed series alive
	clear(fb.fresh)
	fb.order, fb.merged = out, fb.order[:0]
}

// compactOrder drops the series emitted for the last time.
func (c *spanConnector) compactOrder(fb *flushBuffers) {
	kept := slices.DeleteFunc(fb.order, func(s *series) bool { return s.removed })
	fb.order = kept
}

// build turns snapshots into pdata: one ResourceMetrics per resource in
// creation order, data points in series creation order, so output is
// deterministic. It walks the carried order and skips series not
// snapshotted in this flush (idle delta series).
func (c *spanConnector) build(fb *flushBuffers, ts pcommon.Timestamp) pmetric.Metrics {
	md := pmetric.NewMetrics()
	var (
		cur                     *resource
		sm                      pmetric.ScopeMetrics
		calls, dur, events      pmetric.Metric
		hasCalls, hasDur, hasEv bool
	)
	var nCalls, nDur, nEv int
	for oi, s := range fb.order {
		if s.snapGen != fb.gen {
			continue
		}
		sn := &fb.snaps[s.snapIdx]
		if s.res != cur {
			// Count this resource's points so every slice is sized once.
			nCalls, nDur, nEv = 0, 0, 0
			for _, n := range fb.order[oi:] {
				if n.res != s.res {
					break
				}
				if n.snapGen != fb.gen {
					continue
				}
				switch n.kind {
				case kindCombined:
					nCalls++
					nDur++
				case kindCalls:
					nCalls++
				case kindDuration:
					nDur++
				case kindEvents:
					nEv++
				}
			}
			cur = s.res
			rm := md.ResourceMetrics().AppendEmpty()
			if c.resAttrsOut {
				cur.attrs.CopyTo(rm.Resource().Attributes())
			}
			sm = rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(scopeName)
			hasCalls, hasDur, hasEv = false, false, false
		}
		ex := fb.ex[sn.exOff : sn.exOff+sn.exLen]
		if s.kind.hasCalls() {
			if !hasCalls {
				calls, hasCalls = c.newSum(sm, c.callsName), true
				calls.Sum().DataPoints().EnsureCapacity(nCalls)
			}
			c.sumPoint(calls, sn, ts, ex)
		}
		if s.kind.hasDuration() && !c.histOff {
			if !hasDur {
				dur, hasDur = sm.Metrics().AppendEmpty(), true
				dur.SetName(c.durationName)
				dur.SetUnit(c.cfg.unit())
				if c.expo {
					dur.SetEmptyExponentialHistogram().SetAggregationTemporality(c.temporality)
					dur.ExponentialHistogram().DataPoints().EnsureCapacity(nDur)
				} else {
					dur.SetEmptyHistogram().SetAggregationTemporality(c.temporality)
					dur.Histogram().DataPoints().EnsureCapacity(nDur)
				}
			}
			c.histPoint(dur, fb, sn, ts, ex)
		}
		if s.kind == kindEvents {
			if !hasEv {
				events, hasEv = c.newSum(sm, c.eventsName), true
				events.Sum().DataPoints().EnsureCapacity(nEv)
			}
			c.sumPoint(events, sn, ts, ex)
		}
	}
	return md
}

func (c *spanConnector) newSum(sm pmetric.ScopeMetrics, name string) pmetric.Metric {
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(c.temporality)
	return m
}

func (c *spanConnector) sumPoint(m pmetric.Metric, sn *snap, ts pcommon.Timestamp, ex []exemplar) {
	dp := m.Sum().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(sn.start)
	dp.SetTimestamp(ts)
	dp.SetIntValue(int64(sn.count))
	sn.s.attrs.CopyTo(dp.Attributes())
	putExemplars(dp.Exemplars(), ex)
}

func (c *spanConnector) histPoint(m pmetric.Metric, fb *flushBuffers, sn *snap, ts pcommon.Timestamp, ex []exemplar) {
	counts := fb.buckets[sn.bOff : sn.bOff+sn.bLen]
	if c.expo {
		dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(sn.start)
		dp.SetTimestamp(ts)
		dp.SetCount(sn.expo.count)
		dp.SetSum(sn.sum)
		if sn.expo.count > 0 {
			dp.SetMin(sn.expo.min)
			dp.SetMax(sn.expo.max)
		}
		dp.SetScale(sn.expo.scale)
		dp.SetZeroCount(sn.expo.zero)
		dp.Positive().SetOffset(sn.expo.offset)
		dp.Positive().BucketCounts().FromRaw(counts)
		sn.s.attrs.CopyTo(dp.Attributes())
		putExemplars(dp.Exemplars(), ex)
		return
	}
	dp := m.Histogram().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(sn.start)
	dp.SetTimestamp(ts)
	var n uint64
	for _, b := range counts {
		n += b
	}
	dp.SetCount(n)
	dp.SetSum(sn.sum)
	dp.ExplicitBounds().FromRaw(c.bounds)
	dp.BucketCounts().FromRaw(counts)
	sn.s.attrs.CopyTo(dp.Attributes())
	putExemplars(dp.Exemplars(), ex)
}

func putExemplars(dst pmetric.ExemplarSlice, ex []exemplar) {
	if len(ex) == 0 {
		return
	}
	dst.EnsureCapacity(len(ex))
	for i := range ex {
		e := dst.AppendEmpty()
		e.SetTraceID(ex[i].traceID)
		e.SetSpanID(ex[i].spanID)
		e.SetDoubleValue(ex[i].value)
		e.SetTimestamp(ex[i].ts)
	}
}
