package lbexporter

import (
	"sync"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func metricsOps(s *metricSplitter) signalOps[pmetric.Metrics] {
	return signalOps[pmetric.Metrics]{
		newData: pmetric.NewMetrics,
		count:   func(md pmetric.Metrics) int { return md.DataPointCount() },
		moveAll: func(dst, src pmetric.Metrics) { src.ResourceMetrics().MoveAndAppendTo(dst.ResourceMetrics()) },
		partial: func(err error, md pmetric.Metrics) error { return consumererror.NewMetrics(err, md) },
		split:   s.split,
		signal:  "metrics",
		marshal: func(d pmetric.Metrics) ([]byte, error) { return (&pmetric.ProtoMarshaler{}).MarshalMetrics(d) },
		unmarshal: func(b []byte) (pmetric.Metrics, error) {
			return (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
		},
	}
}

// metricSplitter routes metrics at the granularity the routing key needs:
// resource (service, resource), metric (metric) or data point (streamID,
// attributes). Coarser units are moved whole whenever all their parts go to
// one backend; otherwise a shell (resource, scope, metric metadata) is
// copied once per backend and the parts are moved into it.
type metricSplitter struct {
	mode    string
	scratch sync.Pool
}

type metricScratch struct {
	rmDst []pmetric.ResourceMetrics
	rmHas []bool
	smDst []pmetric.ScopeMetrics
	smHas []bool
	mDst  []pmetric.Metric
	mHas  []bool
	idx   []int32
	key   []byte
	res   []byte // resource part of a stream key
	scope []byte // resource+scope part of a stream key
	names []string
	look  attrLookup
}

func newMetricSplitter(mode string, attrs []string) *metricSplitter {
	s := &metricSplitter{mode: mode}
	s.scratch.New = func() any { return &metricScratch{look: newAttrLookup(attrs)} }
	return s
}

func (sc *metricScratch) reset(n int) {
	if cap(sc.rmHas) < n {
		sc.rmDst = make([]pmetric.ResourceMetrics, n)
		sc.rmHas = make([]bool, n)
		sc.smDst = make([]pmetric.ScopeMetrics, n)
		sc.smHas = make([]bool, n)
		sc.mDst = make([]pmetric.Metric, n)
		sc.mHas = make([]bool, n)
	}
	sc.rmDst, sc.rmHas = sc.rmDst[:n], sc.rmHas[:n]
	sc.smDst, sc.smHas = sc.smDst[:n], sc.smHas[:n]
	sc.mDst, sc.mHas = sc.mDst[:n], sc.mHas[:n]
}

func countDataPoints(rm pmetric.ResourceMetrics) int {
	n := 0
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			n += dataPointLen(m)
		}
	}
	return n
}

func (s *metricSplitter) split(r *router, md pmetric.Metrics, out *outputs[pmetric.Metrics], st *splitStats) {
	sc := s.scratch.Get().(*metricScratch)
	defer s.scratch.Put(sc)
	sc.reset(len(out.data))
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		switch s.mode {
		case RoutingService:
			var ok bool
			sc.key, ok = serviceKey(sc.key[:0], rm.Resource())
			if !ok {
				st.missingService += int64(countDataPoints(rm))
			}
			rm.MoveTo(out.at(r.route(sc.key)).ResourceMetrics().AppendEmpty())
		case RoutingResource:
			sc.key = appendSortedMap(sc.key[:0], rm.Resource().Attributes(), &sc.names)
			rm.MoveTo(out.at(r.route(sc.key)).ResourceMetrics().AppendEmpty())
		default:
			s.splitResource(r, rm, out, sc)
		}
	}
}

func (s *metricSplitter) splitResource(r *router, rm pmetric.ResourceMetrics, out *outputs[pmetric.Metrics], sc *metricScratch) {
	clear(sc.rmHas)
	if s.mode == RoutingStreamID {
		sc.res = appendSortedMap(sc.res[:0], rm.Resource().Attributes(), &sc.names)
	}
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		sm := sms.At(j)
		clear(sc.smHas)
		resolved := false
		switch s.mode {
		case RoutingAttributes:
			resolved = sc.look.resolveUpper(rm.Resource().Attributes(), sm.Scope().Attributes())
			if resolved {
				sc.key = sc.look.appendKey(sc.key[:0], nil)
				sm.MoveTo(sc.resourceFor(r.route(sc.key), rm, out).ScopeMetrics().AppendEmpty())
				continue
			}
		case RoutingStreamID:
			sc.scope = append(sc.scope[:0], sc.res...)
			sc.scope = appendField(sc.scope, tagName, sm.Scope().Name())
			sc.scope = appendField(sc.scope, tagName, sm.Scope().Version())
			sc.scope = appendSortedMap(sc.scope, sm.Scope().Attributes(), &sc.names)
		}
		ms := sm.Metrics()
		for k := 0; k < ms.Len(); k++ {
			m := ms.At(k)
			if s.mode == RoutingMetric {
				sc.key = append(sc.key[:0], m.Name()...)
				e := r.route(sc.key)
				m.MoveTo(sc.scopeFor(e, rm, sm, out).Metrics().AppendEmpty())
				continue
			}
			s.splitMetric(r, rm, sm, m, out, sc)
		}
	}
}

// splitMetric routes every data point of m.
func (s *metricSplitter) splitMetric(r *router, rm pmetric.ResourceMetrics, sm pmetric.ScopeMetrics, m pmetric.Metric, out *outputs[pmetric.Metrics], sc *metricScratch) {
	n := dataPointLen(m)
	if n == 0 {
		return
	}
	sc.idx = sc.idx[:0]
	same := true
	for k := range n {
		attrs := dataPointAttrs(m, k)
		if s.mode == RoutingStreamID {
			sc.key = append(sc.key[:0], sc.scope...)
			sc.key = appendField(sc.key, tagName, m.Name())
			sc.key = append(sc.key, byte(m.Type()))
			sc.key = appendSortedMap(sc.key, attrs, &sc.names)
		} else {
			sc.key = sc.look.appendKey(sc.key[:0], func(name string) (pcommon.Value, string, int) {
				if v, ok := attrs.Get(name); ok {
					return v, "", itemValue
				}
				return pcommon.Value{}, "", itemMissing
			})
		}
		e := int32(r.route(sc.key))
		if k > 0 && e != sc.idx[0] {
			same = false
		}
		sc.idx = append(sc.idx, e)
	}
	if same {
		m.MoveTo(sc.scopeFor(int(sc.idx[0]), rm, sm, out).Metrics().AppendEmpty())
		return
	}
	clear(sc.mHas)
	for _, e := range sc.idx {
		if sc.mHas[e] {
			continue
		}
		dm := sc.scopeFor(int(e), rm, sm, out).Metrics().AppendEmpty()
		copyMetricShell(m, dm)
		sc.mDst[e], sc.mHas[e] = dm, true
	}
	moveDataPoints(m, sc.idx, sc.mDst)
}

func (sc *metricScratch) resourceFor(e int, rm pmetric.ResourceMetrics, out *outputs[pmetric.Metrics]) pmetric.ResourceMetrics {
	if sc.rmHas[e] {
		return sc.rmDst[e]
	}
	d := out.at(e).ResourceMetrics().AppendEmpty()
	rm.Resource().CopyTo(d.Resource())
	d.SetSchemaUrl(rm.SchemaUrl())
	sc.rmDst[e], sc.rmHas[e] = d, true
	return d
}

func (sc *metricScratch) scopeFor(e int, rm pmetric.ResourceMetrics, sm pmetric.ScopeMetrics, out *outputs[pmetric.Metrics]) pmetric.ScopeMetrics {
	if sc.smHas[e] {
		return sc.smDst[e]
	}
	d := sc.resourceFor(e, rm, out).ScopeMetrics().AppendEmpty()
	sm.Scope().CopyTo(d.Scope())
	d.SetSchemaUrl(sm.SchemaUrl())
	sc.smDst[e], sc.smHas[e] = d, true
	return d
}

func dataPointLen(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

func dataPointAttrs(m pmetric.Metric, k int) pcommon.Map {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().At(k).Attributes()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().At(k).Attributes()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().At(k).Attributes()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().At(k).Attributes()
	default:
		return m.Summary().DataPoints().At(k).Attributes()
	}
}

// copyMetricShell copies everything of src but its data points.
func copyMetricShell(src, dst pmetric.Metric) {
	dst.SetName(src.Name())
	dst.SetDescription(src.Description())
	dst.SetUnit(src.Unit())
	src.Metadata().CopyTo(dst.Metadata())
	switch src.Type() {
	case pmetric.MetricTypeGauge:
		dst.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		d := dst.SetEmptySum()
		d.SetAggregationTemporality(src.Sum().AggregationTemporality())
		d.SetIsMonotonic(src.Sum().IsMonotonic())
	case pmetric.MetricTypeHistogram:
		dst.SetEmptyHistogram().SetAggregationTemporality(src.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		dst.SetEmptyExponentialHistogram().SetAggregationTemporality(src.ExponentialHistogram().AggregationTemporality())
	case pmetric.MetricTypeSummary:
		dst.SetEmptySummary()
	}
}

// moveDataPoints moves data point k of src into dst[idx[k]].
func moveDataPoints(src pmetric.Metric, idx []int32, dst []pmetric.Metric) {
	switch src.Type() {
	case pmetric.MetricTypeGauge:
		dps := src.Gauge().DataPoints()
		for k, e := range idx {
			dps.At(k).MoveTo(dst[e].Gauge().DataPoints().AppendEmpty())
		}
	case pmetric.MetricTypeSum:
		dps := src.Sum().DataPoints()
		for k, e := range idx {
			dps.At(k).MoveTo(dst[e].Sum().DataPoints().AppendEmpty())
		}
	case pmetric.MetricTypeHistogram:
		dps := src.Histogram().DataPoints()
		for k, e := range idx {
			dps.At(k).MoveTo(dst[e].Histogram().DataPoints().AppendEmpty())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := src.ExponentialHistogram().DataPoints()
		for k, e := range idx {
			dps.At(k).MoveTo(dst[e].ExponentialHistogram().DataPoints().AppendEmpty())
		}
	case pmetric.MetricTypeSummary:
		dps := src.Summary().DataPoints()
		for k, e := range idx {
			dps.At(k).MoveTo(dst[e].Summary().DataPoints().AppendEmpty())
		}
	}
}
