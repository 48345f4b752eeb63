package manual

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tailgate-otel/tailgate/resolver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type recorder struct {
	mu   sync.Mutex
	sets [][]string
}

func (r *recorder) listen(eps []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, eps)
}

func (r *recorder) got() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sets
}

func TestSetPublishesOnlyChanges(t *testing.T) {
	tests := []struct {
		name    string
		initial []string
		sets    [][]string
		want    [][]string
	}{
		{"initial published sorted", []string{"b:1", "a:1", "a:1"}, nil, [][]string{{"a:1", "b:1"}}},
		{"empty initial publishes nothing", nil, nil, nil},
		{"reorder is no change", []string{"a:1", "b:1"}, [][]string{{"b:1", "a:1"}}, [][]string{{"a:1", "b:1"}}},
		{"add and remove", []string{"a:1"}, [][]string{{"a:1", "c:1"}, {"c:1"}}, [][]string{{"a:1"}, {"a:1", "c:1"}, {"c:1"}}},
		{"to empty", []string{"a:1"}, [][]string{{}}, [][]string{{"a:1"}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			r, err := New(resolver.Settings{}, rec.listen, tt.initial...)
			require.NoError(t, err)
			require.NoError(t, r.Start(context.Background()))
			for _, s := range tt.sets {
				r.Set(s...)
			}
			assert.Equal(t, tt.want, rec.got())
			require.NoError(t, r.Shutdown(context.Background()))
		})
	}
}

func TestLifecycle(t *testing.T) {
	var rec recorder
	r, err := New(resolver.Settings{}, rec.listen, "a:1")
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()), "safe before Start")

	r, err = New(resolver.Settings{}, rec.listen, "a:1")
	require.NoError(t, err)
	r.Set("z:1") // before Start: replaces the initial set
	require.NoError(t, r.Start(context.Background()))
	require.ErrorIs(t, r.Start(context.Background()), resolver.ErrAlreadyStarted)
	assert.Equal(t, []string{"z:1"}, r.Endpoints())
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()), "idempotent")
	r.Set("q:1") // after Shutdown: ignored
	assert.Equal(t, [][]string{{"z:1"}}, rec.got())
	require.ErrorIs(t, r.Start(context.Background()), resolver.ErrShutdown)
}

func TestConcurrentSetNeverOverlapsListener(t *testing.T) {
	var mu sync.Mutex
	inside := false
	overlapped := false
	r, err := New(resolver.Settings{}, func([]string) {
		mu.Lock()
		if inside {
			overlapped = true
		}
		inside = true
		mu.Unlock()
		mu.Lock()
		inside = false
		mu.Unlock()
	})
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r.Set(string(rune('a'+g)) + ":" + string(rune('0'+i%10)))
			}
		}()
	}
	wg.Wait()
	assert.False(t, overlapped)
	require.NoError(t, r.Shutdown(context.Background()))
}

func FuzzSet(f *testing.F) {
	f.Add("a:1", "b:2", "a:1")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, x, y, z string) {
		var rec recorder
		r, err := New(resolver.Settings{}, rec.listen, x)
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background()))
		r.Set(y, z)
		r.Set(z, y) // same set: no new publication
		for _, s := range rec.got() {
			assert.IsNonDecreasing(t, s)
		}
		sets := rec.got()
		if len(sets) > 0 {
			// Endpoints that are not a valid host:port are never published.
			var want []string
			for _, ep := range []string{y, z} {
				if _, err := resolver.NormalizeEndpoint(ep, 0); err == nil {
					want = append(want, ep)
				}
			}
			want = resolver.SortDedupe(want)
			if want == nil {
				want = []string{}
			}
			assert.Equal(t, want, r.Endpoints())
		}
		require.NoError(t, r.Shutdown(context.Background()))
	})
}
