package lbexporter

import (
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// dirStorage is a storage extension on real files: one directory per
// client, one file per key (written to a temporary name, then renamed), so
// what a test process wrote is what the next "run" reads back.
type dirStorage struct {
	dir string
}

func (d *dirStorage) Start(context.Context, component.Host) error { return nil }
func (d *dirStorage) Shutdown(context.Context) error              { return nil }

func (d *dirStorage) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	dir := filepath.Join(d.dir, hex.EncodeToString([]byte(kind.String()+"/"+id.String()+"/"+name)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &dirClient{dir: dir}, nil
}

type dirClient struct {
	dir string
	mu  sync.Mutex
}

func (c *dirClient) path(key string) string {
	return filepath.Join(c.dir, hex.EncodeToString([]byte(key)))
}

func (c *dirClient) get(key string) ([]byte, error) {
	v, err := os.ReadFile(c.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return v, err
}

func (c *dirClient) set(key string, v []byte) error {
	tmp := c.path(key) + ".tmp"
	if err := os.WriteFile(tmp, v, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, c.path(key))
}

func (c *dirClient) del(key string) error {
	if err := os.Remove(c.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (c *dirClient) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.get(key)
}

func (c *dirClient) Set(_ context.Context, key string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set(key, v)
}

func (c *dirClient) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.del(key)
}

func (c *dirClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range ops {
		var err error
		switch op.Type {
		case storage.Get:
			op.Value, err = c.get(op.Key)
		case storage.Set:
			err = c.set(op.Key, op.Value)
		case storage.Delete:
			err = c.del(op.Key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *dirClient) Close(context.Context) error { return nil }

// keys lists the keys stored by every client under dir.
func storedKeys(t *testing.T, dir string) []string {
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		k, err := hex.DecodeString(filepath.Base(p))
		if err != nil {
			return err
		}
		out = append(out, string(k))
		return nil
	}))
	sort.Strings(out)
	return out
}

var storageID = component.MustNewID("file_storage")

func persistent(c *Config) { c.Protocol.OTLP.QueueConfig.Get().StorageID = &storageID }

// startPersistent starts a load balancer whose buffers live in dir, as one
// run of an agent.
func startPersistent(t *testing.T, env *testEnv, dir string) *lb[ptrace.Traces] {
	t.Helper()
	cfg := testConfig(persistent, func(c *Config) { c.Protocol.OTLP.RetryConfig.InitialInterval = 5 * time.Millisecond })
	ops := tracesOps(newTraceSplitter(RoutingTraceID, nil))
	ops.newBackend = func(_ context.Context, ep string) (componentT, func(context.Context, ptrace.Traces) error, error) {
		s := env.sinks.get(ep)
		return s, consumeInto(s, &s.traces), nil
	}
	l, err := newLB(env.set, cfg, ops, env.res.newRes)
	require.NoError(t, err)
	l.id = component.MustNewID("load_balancing")
	require.NoError(t, l.start(context.Background(), newHost(map[component.ID]component.Component{storageID: &dirStorage{dir: dir}})))
	return l
}

func deliveredSpans(env *testEnv, ep string) int {
	n := 0
	for _, td := range env.sinks.spansByEndpoint()[ep] {
		n += td.SpanCount()
	}
	return n
}

// An agent that stops while a gateway is down keeps that gateway's part on
// disk; the next run delivers it: to the same gateway when it is still in
// the ring, to the keys' new owners when it is not. Nothing is left behind
// once delivered.
func TestPersistentBufferSurvivesRestart(t *testing.T) {
	for _, nextRing := range []string{"same gateways", "the down gateway gone"} {
		t.Run(nextRing, func(t *testing.T) {
			dir := t.TempDir()
			eps := endpoints(3)
			down := eps[1]
			env := newTestEnv(eps...)
			env.sinks.get(down).setFail(errSinkDown)
			l := startPersistent(t, env, dir)
			var sent []ptrace.Traces
			for i := range 4 {
				td := tracegen.Batches(tracegen.Spec{Traces: 50, SpansPerTrace: 2, Seed: uint64(i)})[0]
				cp := ptrace.NewTraces()
				td.CopyTo(cp)
				sent = append(sent, cp)
				require.NoError(t, l.push(context.Background(), td))
			}
			ring := hashring.New(eps)
			want := 0
			for _, td := range sent {
				want += spansOwnedBy(td, ring, down)
			}
			require.Eventually(t, func() bool { return deliveredSpans(env, eps[0])+deliveredSpans(env, eps[2]) == 400-want },
				10*time.Second, 5*time.Millisecond)
			require.NoError(t, l.shutdown(context.Background()))
			assert.Zero(t, deliveredSpans(env, down))
			assert.Zero(t, counterValue(t, env.reader, "otelcol_loadbalancer_dropped_items"), "nothing dropped at shutdown")

			// Next run: the gateway is back, or gone from the ring.
			env2 := newTestEnv(eps...)
			if nextRing != "same gateways" {
				env2 = newTestEnv(eps[0], eps[2])
			}
			l2 := startPersistent(t, env2, dir)
			t.Cleanup(func() { require.NoError(t, l2.shutdown(context.Background())) })
			require.Eventually(t, func() bool {
				n := 0
				for _, ep := range eps {
					n += deliveredSpans(env2, ep)
				}
				return n == want
			}, 10*time.Second, 5*time.Millisecond)
			flush(t, l2)
			ring2 := hashring.New(env2.res.initial)
			for ep, tds := range env2.sinks.spansByEndpoint() {
				for _, td := range tds {
					assert.Equal(t, td.SpanCount(), spansOwnedBy(td, ring2, ep), "delivered to the owner on the new ring")
				}
			}
			require.Eventually(t, func() bool {
				for _, k := range storedKeys(t, dir) {
					if k != catalogKey && !isRangeKey(k) {
						return false
					}
				}
				return true
			}, 5*time.Second, 5*time.Millisecond, "delivered entries are deleted: %v", storedKeys(t, dir))
		})
	}
}

func isRangeKey(k string) bool {
	n := len(k)
	return n > 2 && (k[n-2:] == "lo" || k[n-2:] == "hi")
}

func TestStoreRange(t *testing.T) {
	c := &dirClient{dir: t.TempDir()}
	ctx := context.Background()
	cat, orphans, err := openCatalog(ctx, c)
	require.NoError(t, err)
	assert.Empty(t, orphans)
	s, err := cat.create(ctx, "gw:4317")
	require.NoError(t, err)
	for i := range 5 {
		seq, err := s.put(ctx, encodeValue(flagFailedOver, i, []byte{byte(i)}))
		require.NoError(t, err)
		assert.EqualValues(t, i, seq)
	}
	// out of order: lo moves only past a contiguous prefix
	require.NoError(t, s.remove(ctx, 1))
	assert.EqualValues(t, 0, s.lo)
	require.NoError(t, s.remove(ctx, 0))
	assert.EqualValues(t, 2, s.lo)

	// a new run sees the store as an orphan with entries 2..4
	_, orphans, err = openCatalog(ctx, c)
	require.NoError(t, err)
	require.Equal(t, []string{s.prefix}, orphans)
	o, err := openStore(ctx, c, orphans[0])
	require.NoError(t, err)
	var seqs []uint64
	require.NoError(t, o.each(ctx, func(seq uint64, v []byte) error {
		flags, items, payload, err := decodeValue(v)
		require.NoError(t, err)
		assert.Equal(t, flagFailedOver, flags)
		assert.Equal(t, int(seq), items)
		assert.Equal(t, []byte{byte(seq)}, payload)
		seqs = append(seqs, seq)
		return nil
	}))
	assert.Equal(t, []uint64{2, 3, 4}, seqs)
	// store numbers are never reused
	s2, err := cat.create(ctx, "gw:4317")
	require.NoError(t, err)
	assert.NotEqual(t, s.prefix, s2.prefix)
}

func TestDecodeValueRejectsCorruption(t *testing.T) {
	good := encodeValue(1, 300, []byte("payload"))
	for _, v := range [][]byte{nil, {}, {valueVersion}, {2, 0, 0}, {valueVersion, 0, 0x80}, good[:2]} {
		_, _, _, err := decodeValue(v)
		assert.ErrorIs(t, err, ErrCorruptEntry, "%x", v)
	}
	flags, items, payload, err := decodeValue(good)
	require.NoError(t, err)
	assert.Equal(t, uint8(1), flags)
	assert.Equal(t, 300, items)
	assert.Equal(t, "payload", string(payload))
}

// FuzzDecodeValue: whatever a storage holds, decoding it never panics and
// what decodes re-encodes to the same bytes.
func FuzzDecodeValue(f *testing.F) {
	f.Add(encodeValue(0, 0, nil))
	f.Add(encodeValue(1, 1<<40, []byte("x")))
	f.Add([]byte{1, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, v []byte) {
		flags, items, payload, err := decodeValue(v)
		if err != nil {
			return
		}
		if got := encodeValue(flags, items, payload); string(got) != string(v) && items >= 0 {
			// Non-minimal varints decode too; they must still round-trip
			// to a value that decodes the same.
			f2, i2, p2, err := decodeValue(got)
			require.NoError(t, err)
			require.Equal(t, flags, f2)
			require.Equal(t, items, i2)
			require.Equal(t, payload, p2)
		}
	})
}

// FuzzCatalog: a corrupt catalog is an error, never a panic.
func FuzzCatalog(f *testing.F) {
	f.Add([]byte("3\ngw:4317#0/\ngw:4317#2/"))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := &memClient{m: map[string][]byte{catalogKey: raw}}
		cat, orphans, err := openCatalog(context.Background(), c)
		if err != nil {
			return
		}
		s, err := cat.create(context.Background(), "gw:4317")
		require.NoError(t, err)
		assert.NotContains(t, orphans, s.prefix)
	})
}

// memClient is a map storage client for fuzzing.
type memClient struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memClient) Get(_ context.Context, k string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k], nil
}

func (c *memClient) Set(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
	return nil
}

func (c *memClient) Delete(_ context.Context, k string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
	return nil
}

func (c *memClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value, _ = c.Get(ctx, op.Key)
		case storage.Set:
			_ = c.Set(ctx, op.Key, op.Value)
		case storage.Delete:
			_ = c.Delete(ctx, op.Key)
		}
	}
	return nil
}

func (c *memClient) Close(context.Context) error { return nil }
