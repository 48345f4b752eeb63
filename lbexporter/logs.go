package lbexporter

import (
	"sync"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Pseudo-attributes accepted in routing_attributes for logs.
const (
	pseudoLogSeverity = "log.severity"
	pseudoLogBody     = "log.body"
)

func logsOps(s *logSplitter) signalOps[plog.Logs] {
	return signalOps[plog.Logs]{
		newData: plog.NewLogs,
		count:   func(ld plog.Logs) int { return ld.LogRecordCount() },
		moveAll: func(dst, src plog.Logs) { src.ResourceLogs().MoveAndAppendTo(dst.ResourceLogs()) },
		partial: func(err error, ld plog.Logs) error { return consumererror.NewLogs(err, ld) },
		split:   s.split,
		signal:  "logs",
		marshal: func(d plog.Logs) ([]byte, error) { return (&plog.ProtoMarshaler{}).MarshalLogs(d) },
		unmarshal: func(b []byte) (plog.Logs, error) {
			return (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		},
	}
}

// logSplitter routes log records; same single-pass, move-not-copy scheme as
// traceSplitter.
type logSplitter struct {
	mode    string
	scratch sync.Pool
}

type logScratch struct {
	idx   []int32
	count []int32
	rlDst []plog.ResourceLogs
	rlHas []bool
	lrDst []plog.LogRecordSlice
	key   []byte
	svc   []byte
	names []string
	look  attrLookup
}

func newLogSplitter(mode string, attrs []string) *logSplitter {
	s := &logSplitter{mode: mode}
	s.scratch.New = func() any { return &logScratch{look: newAttrLookup(attrs)} }
	return s
}

func (sc *logScratch) reset(n int) {
	if cap(sc.count) < n {
		sc.count = make([]int32, n)
		sc.rlDst = make([]plog.ResourceLogs, n)
		sc.rlHas = make([]bool, n)
		sc.lrDst = make([]plog.LogRecordSlice, n)
	}
	sc.count, sc.rlDst, sc.rlHas, sc.lrDst = sc.count[:n], sc.rlDst[:n], sc.rlHas[:n], sc.lrDst[:n]
}

func countRecords(rl plog.ResourceLogs) int {
	n := 0
	for _, sl := range rl.ScopeLogs().All() {
		n += sl.LogRecords().Len()
	}
	return n
}

func (s *logSplitter) split(r *router, ld plog.Logs, out *outputs[plog.Logs], st *splitStats) {
	sc := s.scratch.Get().(*logScratch)
	defer s.scratch.Put(sc)
	sc.reset(len(out.data))
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		switch s.mode {
		case RoutingService:
			var ok bool
			sc.key, ok = serviceKey(sc.key[:0], rl.Resource())
			if !ok {
				st.missingService += int64(countRecords(rl))
			}
			rl.MoveTo(out.at(r.route(sc.key)).ResourceLogs().AppendEmpty())
		case RoutingResource:
			sc.key = appendSortedMap(sc.key[:0], rl.Resource().Attributes(), &sc.names)
			rl.MoveTo(out.at(r.route(sc.key)).ResourceLogs().AppendEmpty())
		default:
			s.splitResource(r, rl, out, sc, st)
		}
	}
}

func (s *logSplitter) splitResource(r *router, rl plog.ResourceLogs, out *outputs[plog.Logs], sc *logScratch, st *splitStats) {
	sc.idx = sc.idx[:0]
	same := true
	first := int32(-1)
	svcRouted := int32(-1)
	sls := rl.ScopeLogs()
	for j := 0; j < sls.Len(); j++ {
		sl := sls.At(j)
		lrs := sl.LogRecords()
		resolved := false
		if s.mode == RoutingAttributes {
			resolved = sc.look.resolveUpper(rl.Resource().Attributes(), sl.Scope().Attributes())
			if resolved && lrs.Len() > 0 {
				sc.key = sc.look.appendKey(sc.key[:0], nil)
			}
		}
		scopeIdx := int32(-1)
		for k := 0; k < lrs.Len(); k++ {
			var e int32
			lr := lrs.At(k)
			switch {
			case s.mode == RoutingTraceID:
				tid := lr.TraceID()
				if !tid.IsEmpty() {
					e = int32(r.route(tid[:]))
					break
				}
				// No trace to keep together: route like routing_key service.
				st.emptyTraceID++
				if svcRouted < 0 {
					sc.svc, _ = serviceKey(sc.svc[:0], rl.Resource())
					svcRouted = int32(r.route(sc.svc))
				}
				e = svcRouted
			case resolved:
				if scopeIdx < 0 {
					scopeIdx = int32(r.route(sc.key))
				}
				e = scopeIdx
			default:
				sc.key = sc.look.appendKey(sc.key[:0], func(name string) (pcommon.Value, string, int) {
					return logAttr(lr, name)
				})
				e = int32(r.route(sc.key))
			}
			if first < 0 {
				first = e
			} else if e != first {
				same = false
			}
			sc.idx = append(sc.idx, e)
		}
	}
	if first < 0 {
		return
	}
	if same {
		rl.MoveTo(out.at(int(first)).ResourceLogs().AppendEmpty())
		return
	}
	clear(sc.rlHas)
	pos := 0
	for j := 0; j < sls.Len(); j++ {
		sl := sls.At(j)
		lrs := sl.LogRecords()
		m := lrs.Len()
		if m == 0 {
			continue
		}
		idx := sc.idx[pos : pos+m]
		pos += m
		clear(sc.count)
		for _, e := range idx {
			sc.count[e]++
		}
		if int(sc.count[idx[0]]) == m {
			sl.MoveTo(sc.resourceFor(int(idx[0]), rl, out).ScopeLogs().AppendEmpty())
			continue
		}
		for e, c := range sc.count {
			if c == 0 {
				continue
			}
			dsl := sc.resourceFor(e, rl, out).ScopeLogs().AppendEmpty()
			sl.Scope().CopyTo(dsl.Scope())
			dsl.SetSchemaUrl(sl.SchemaUrl())
			dsl.LogRecords().EnsureCapacity(int(c))
			sc.lrDst[e] = dsl.LogRecords()
		}
		for k, e := range idx {
			lrs.At(k).MoveTo(sc.lrDst[e].AppendEmpty())
		}
	}
}

func (sc *logScratch) resourceFor(e int, rl plog.ResourceLogs, out *outputs[plog.Logs]) plog.ResourceLogs {
	if sc.rlHas[e] {
		return sc.rlDst[e]
	}
	d := out.at(e).ResourceLogs().AppendEmpty()
	rl.Resource().CopyTo(d.Resource())
	d.SetSchemaUrl(rl.SchemaUrl())
	sc.rlDst[e], sc.rlHas[e] = d, true
	return d
}

func logAttr(lr plog.LogRecord, name string) (pcommon.Value, string, int) {
	switch name {
	case pseudoLogSeverity:
		return pcommon.Value{}, lr.SeverityText(), itemPseudo
	case pseudoLogBody:
		return pcommon.Value{}, lr.Body().AsString(), itemPseudo
	}
	if v, ok := lr.Attributes().Get(name); ok {
		return v, "", itemValue
	}
	return pcommon.Value{}, "", itemMissing
}
