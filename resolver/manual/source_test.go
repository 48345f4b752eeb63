package manual

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tailgate-otel/tailgate/resolver"
)

func TestSourceFeedsEveryResolver(t *testing.T) {
	tests := []struct {
		name     string
		initial  []string
		before   [][]string // Sets before the resolvers are built
		after    [][]string // Sets once they run
		want     [][]string // what each Listener saw
		wantLast []string
	}{
		{"initial only", []string{"b:1", "a:1"}, nil, nil, [][]string{{"a:1", "b:1"}}, []string{"a:1", "b:1"}},
		{"set before build wins", []string{"a:1"}, [][]string{{"c:1"}}, nil, [][]string{{"c:1"}}, []string{"c:1"}},
		{"changes reach both", []string{"a:1"}, nil, [][]string{{"a:1", "b:1"}, {"b:1"}},
			[][]string{{"a:1"}, {"a:1", "b:1"}, {"b:1"}}, []string{"b:1"}},
		{"same set publishes nothing", []string{"a:1", "b:1"}, nil, [][]string{{"b:1", "a:1"}},
			[][]string{{"a:1", "b:1"}}, []string{"a:1", "b:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := NewSource(tt.initial...)
			for _, s := range tt.before {
				src.Set(s...)
			}
			var f resolver.Factory = src.Resolver
			recs := make([]*recorder, 2)
			rs := make([]resolver.Resolver, 2)
			for i := range rs {
				recs[i] = &recorder{}
				r, err := f(resolver.Settings{}, recs[i].listen)
				require.NoError(t, err)
				require.NoError(t, r.Start(context.Background()))
				rs[i] = r
			}
			for _, s := range tt.after {
				src.Set(s...)
			}
			for i, r := range rs {
				assert.Equal(t, tt.want, recs[i].got(), "resolver %d", i)
				assert.Equal(t, tt.wantLast, r.Endpoints())
				require.NoError(t, r.Shutdown(context.Background()))
			}
			assert.Zero(t, src.subscribers(), "shut down resolvers leave their source")
		})
	}
}

func TestSourceResolverShutDownStopsFollowing(t *testing.T) {
	src := NewSource("a:1")
	var stopped, live recorder
	r1, err := src.Resolver(resolver.Settings{}, stopped.listen)
	require.NoError(t, err)
	r2, err := src.Resolver(resolver.Settings{}, live.listen)
	require.NoError(t, err)
	require.NoError(t, r1.Start(context.Background()))
	require.NoError(t, r2.Start(context.Background()))
	require.NoError(t, r1.Shutdown(context.Background()))
	src.Set("b:1")
	assert.Equal(t, [][]string{{"a:1"}}, stopped.got())
	assert.Equal(t, [][]string{{"a:1"}, {"b:1"}}, live.got())
	assert.Equal(t, []string{"b:1"}, src.Endpoints())
	require.NoError(t, r2.Shutdown(context.Background()))
	assert.Zero(t, src.subscribers())
}

// Sets from several goroutines while resolvers come and go: every live
// resolver ends on the source's last set (none is left on a stale one).
func TestSourceConcurrentSetsConverge(t *testing.T) {
	src := NewSource("a:1")
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := range 100 {
				src.Set(fmt.Sprintf("g%d:%d", g, i%7+1), "a:1")
			}
		})
	}
	var rs []resolver.Resolver
	for range 20 {
		r, err := src.Resolver(resolver.Settings{}, func([]string) {})
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background()))
		rs = append(rs, r)
		if len(rs)%3 == 0 {
			require.NoError(t, rs[0].Shutdown(context.Background()))
			rs = rs[1:]
		}
	}
	wg.Wait()
	want := resolver.SortDedupe(src.Endpoints())
	for _, r := range rs {
		assert.Equal(t, want, r.Endpoints())
		require.NoError(t, r.Shutdown(context.Background()))
	}
	assert.Zero(t, src.subscribers())
}

// Whatever a Source is given, every resolver built from it publishes the
// same valid, sorted set.
func FuzzSourceSet(f *testing.F) {
	f.Add("a:1", "b:2", "bad host")
	f.Add("", "[::1]:4317", "10.0.0.1")
	f.Fuzz(func(t *testing.T, x, y, z string) {
		src := NewSource(x)
		var rs []resolver.Resolver
		for range 2 {
			r, err := src.Resolver(resolver.Settings{}, func(eps []string) { assert.IsNonDecreasing(t, eps) })
			require.NoError(t, err)
			require.NoError(t, r.Start(context.Background()))
			rs = append(rs, r)
		}
		src.Set(y, z)
		want := rs[0].Endpoints()
		for _, ep := range want {
			_, err := resolver.NormalizeEndpoint(ep, 0)
			require.NoError(t, err)
		}
		assert.Equal(t, want, rs[1].Endpoints())
		for _, r := range rs {
			require.NoError(t, r.Shutdown(context.Background()))
		}
		assert.Zero(t, src.subscribers())
	})
}
