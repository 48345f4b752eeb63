package k8s

import (
	"fmt"
	"testing"
)

// BenchmarkCollect merges 10 slices of 10 endpoints into host:port strings,
// the work done per EndpointSlice event.
func BenchmarkCollect(b *testing.B) {
	objs := make([]any, 10)
	for s := range objs {
		eps := make([]ep, 10)
		for e := range eps {
			eps[e] = ep{addrs: []string{fmt.Sprintf("10.0.%d.%d", s, e)}, ready: yes()}
		}
		objs[s] = slice(fmt.Sprintf("gateway-%d", s), svc, eps...)
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := collect(objs, svc, ns, []int32{4317}, false)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "endpoints")
}
