package loop

import (
	"context"
	"fmt"
	"testing"

	"github.com/tailgate-otel/tailgate/resolver/internal/metrictest"
)

// BenchmarkPublishUnchanged is the steady state of a DNS or k8s resolver:
// a resolution that finds the same 100 endpoints (in another order).
func BenchmarkPublishUnchanged(b *testing.B) {
	_, set := metrictest.New(b)
	p, err := NewPublisher("dns", set, func([]string) {}, 0)
	if err != nil {
		b.Fatal(err)
	}
	eps := make([]string, 100)
	for i := range eps {
		eps[i] = fmt.Sprintf("10.0.%d.%d:4317", 99-i/256, i%256)
	}
	ctx := context.Background()
	p.Success(ctx, eps)
	b.ReportAllocs()
	for b.Loop() {
		p.Success(ctx, eps)
	}
}
