package hashring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/tailgate-otel/tailgate/internal/cputime"
	"github.com/tailgate-otel/tailgate/internal/upstreamring"
)

// Run: go test -run '^$' -bench . -benchmem ./hashring/
//
// Every lookup and build benchmark runs for this package's ring (n=…) and
// for the reference upstream ring (n=…_upstream). BenchmarkGet also reports
// the quality figures over 1,000,000 trace IDs and the five figure sets of
// each size: peak/mean load (mean and worst set), and keys moved by adding
// or removing one endpoint as a multiple of the ideal 1/(n+1) resp. 1/n.

var benchSizes = []int{3, 10, 100, 1000}

type router interface{ Get([]byte) string }

type impl struct {
	suffix string
	build  func([]string) router
}

var impls = []impl{
	{"", func(eps []string) router { return New(eps) }},
	{"_upstream", func(eps []string) router { return upstreamring.New(eps) }},
}

func BenchmarkGet(b *testing.B) {
	keys := testKeys(0xbe7c, 1<<16)
	for _, n := range benchSizes {
		for _, im := range impls {
			b.Run(fmt.Sprintf("n=%d%s", n, im.suffix), func(b *testing.B) {
				r := im.build(podIPs(1000+uint64(n), n))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					_ = r.Get(keys[i&(len(keys)-1)])
					i++
				}
				q := qualityOf(im, n)
				b.ReportMetric(q.meanPeak, "peak/mean")
				b.ReportMetric(q.worstPeak, "worst-peak/mean")
				b.ReportMetric(q.meanMoved, "moved/ideal")
				b.ReportMetric(q.worstMoved, "worst-moved/ideal")
			})
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for _, n := range benchSizes {
		for _, im := range impls {
			b.Run(fmt.Sprintf("n=%d%s", n, im.suffix), func(b *testing.B) {
				eps := podIPs(1000+uint64(n), n)
				b.ReportAllocs()
				cpu0, ok := cputime.Process()
				for b.Loop() {
					im.build(eps)
				}
				if cpu1, ok1 := cputime.Process(); ok && ok1 {
					b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

func BenchmarkGetString(b *testing.B) {
	r := New(gatewayNames(10))
	names := []string{"checkout", "frontend", "payment", "cart", "ad", "email", "shipping", "currency"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = r.GetString(names[i&7])
		i++
	}
}

func BenchmarkAppendChoices(b *testing.B) {
	keys := testKeys(0xc401, 1<<16)
	for _, n := range benchSizes {
		for _, k := range []int{1, 2, n} {
			b.Run(fmt.Sprintf("n=%d/k=%d", n, k), func(b *testing.B) {
				r := New(podIPs(1000+uint64(n), n))
				dst := make([]int, 0, k)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					dst = r.AppendChoices(dst[:0], keys[i&(len(keys)-1)], k)
					i++
				}
			})
		}
	}
}

// BenchmarkIndexWhere measures failover: every key's owner is down, so
// the walk goes one step into the preference order.
func BenchmarkIndexWhere(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			r := New(podIPs(1000+uint64(n), n))
			var keys [][]byte
			for _, k := range testKeys(0x1d3, 1<<16*n/16) {
				if r.Index(k) == 0 {
					keys = append(keys, k)
				}
			}
			up := func(i int) bool { return i != 0 }
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = r.IndexWhere(keys[i%len(keys)], up)
				i++
			}
		})
	}
}

func BenchmarkGetParallel(b *testing.B) {
	keys := testKeys(0x9a7a, 1<<16)
	r := New(podIPs(7, 100))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			_ = r.Get(keys[i&(len(keys)-1)])
			i++
		}
	})
}

type quality struct{ meanPeak, worstPeak, meanMoved, worstMoved float64 }

var (
	qualityMu    sync.Mutex
	qualityCache = map[string]quality{}
)

// qualityOf measures balance and movement once per implementation and size
// (b.Run calls a benchmark function several times).
func qualityOf(im impl, n int) quality {
	qualityMu.Lock()
	defer qualityMu.Unlock()
	id := fmt.Sprint(n, im.suffix)
	if q, ok := qualityCache[id]; ok {
		return q
	}
	keys := millionKeys()
	var q quality
	sets := figureSets(n)
	for _, eps := range sets {
		base := im.build(eps)
		counts := map[string]int{}
		for _, k := range keys {
			counts[base.Get(k)]++
		}
		peak := 0
		for _, c := range counts {
			peak = max(peak, c)
		}
		p := float64(peak) * float64(n) / float64(len(keys))
		q.meanPeak += p / float64(len(sets))
		q.worstPeak = max(q.worstPeak, p)

		added := im.build(append(slices.Clone(eps), "10.250.0.1:4317"))
		removed := im.build(eps[1:])
		movedAdd, movedRemove := 0, 0
		for _, k := range keys {
			owner := base.Get(k)
			if added.Get(k) != owner {
				movedAdd++
			}
			if removed.Get(k) != owner {
				movedRemove++
			}
		}
		add := float64(movedAdd) / float64(len(keys)) * float64(n+1)
		rem := float64(movedRemove) / float64(len(keys)) * float64(n)
		q.meanMoved += add / float64(len(sets))
		q.worstMoved = max(q.worstMoved, add, rem)
	}
	qualityCache[id] = q
	return q
}
