package lbexporter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Persistent buffers (protocol.otlp.sending_queue.storage) keep every entry
// in a storage extension's client, one client per exporter and signal, so
// that an agent that restarts delivers what it held. Layout:
//
//	"stores"            catalog: next store number, then one store prefix per line
//	<prefix>lo, hi      the store's live sequence range [lo, hi), uint64 LE
//	<prefix>i/<seq>     one entry: version, flags, uvarint item count, payload
//
// A store belongs to one backend, and its prefix (endpoint#number/) is never
// reused: the store of a removed endpoint can be re-routed while a new
// backend for the same endpoint writes its own. On start every store listed
// by the catalog is an orphan of the previous run; its entries are re-routed
// through the ring of the moment and deleted once written elsewhere, so an
// entry is on disk somewhere from the moment it is accepted until it is
// delivered (at-least-once across restarts and endpoint changes).

// ErrCorruptEntry is reported (and counted as a drop) for a stored entry
// that cannot be decoded.
var ErrCorruptEntry = errors.New("load_balancing: corrupt stored entry")

const (
	catalogKey   = "stores"
	valueVersion = 1
)

// encodeValue lays out a stored entry.
func encodeValue(flags uint8, items int, payload []byte) []byte {
	v := make([]byte, 0, 2+binary.MaxVarintLen64+len(payload))
	v = append(v, valueVersion, flags)
	v = binary.AppendUvarint(v, uint64(items))
	return append(v, payload...)
}

// decodeValue is encodeValue's inverse; payload aliases v.
func decodeValue(v []byte) (flags uint8, items int, payload []byte, err error) {
	if len(v) < 3 || v[0] != valueVersion {
		return 0, 0, nil, ErrCorruptEntry
	}
	n, k := binary.Uvarint(v[2:])
	if k <= 0 || n > math.MaxInt32 {
		return 0, 0, nil, ErrCorruptEntry
	}
	return v[1], int(n), v[2+k:], nil
}

// catalog records which stores exist in a client.
type catalog struct {
	client storage.Client

	mu     sync.Mutex
	next   uint64
	stores []string
}

// openCatalog reads the catalog; the stores it lists are the previous
// run's, returned as orphans to re-route.
func openCatalog(ctx context.Context, client storage.Client) (*catalog, []string, error) {
	raw, err := client.Get(ctx, catalogKey)
	if err != nil {
		return nil, nil, fmt.Errorf("load_balancing: reading the buffer catalog: %w", err)
	}
	c := &catalog{client: client}
	if len(raw) > 0 {
		lines := strings.Split(string(raw), "\n")
		if c.next, err = strconv.ParseUint(lines[0], 10, 64); err != nil {
			return nil, nil, fmt.Errorf("load_balancing: buffer catalog: %w", ErrCorruptEntry)
		}
		for _, p := range lines[1:] {
			if p == "" {
				continue
			}
			c.stores = append(c.stores, p)
			// Never hand out a number a listed store has, even if the
			// counter was lost.
			if n, ok := storeNumber(p); ok && n >= c.next {
				c.next = n + 1
			}
		}
	}
	return c, slices.Clone(c.stores), nil
}

func (c *catalog) saveLocked(ctx context.Context) error {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(c.next, 10))
	for _, p := range c.stores {
		b.WriteByte('\n')
		b.WriteString(p)
	}
	return c.client.Set(ctx, catalogKey, []byte(b.String()))
}

// create registers and opens a new, empty store for endpoint.
func (c *catalog) create(ctx context.Context, endpoint string) (*store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := endpoint + "#" + strconv.FormatUint(c.next, 10) + "/"
	c.next++
	c.stores = append(c.stores, prefix)
	if err := c.saveLocked(ctx); err != nil {
		c.stores = c.stores[:len(c.stores)-1]
		return nil, fmt.Errorf("load_balancing: buffer catalog: %w", err)
	}
	return &store{client: c.client, prefix: prefix, done: map[uint64]struct{}{}}, nil
}

// remove forgets an emptied store and deletes its range keys.
func (c *catalog) remove(ctx context.Context, s *store) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stores = slices.DeleteFunc(c.stores, func(p string) bool { return p == s.prefix })
	if err := c.saveLocked(ctx); err != nil {
		return err
	}
	return c.client.Batch(ctx, storage.DeleteOperation(s.prefix+"lo"), storage.DeleteOperation(s.prefix+"hi"))
}

// storeNumber is the number in a store prefix (endpoint#number/).
func storeNumber(prefix string) (uint64, bool) {
	i := strings.LastIndexByte(prefix, '#')
	if i < 0 || !strings.HasSuffix(prefix, "/") {
		return 0, false
	}
	n, err := strconv.ParseUint(prefix[i+1:len(prefix)-1], 10, 64)
	return n, err == nil
}

// storeEndpoint is the endpoint a store prefix was created for.
func storeEndpoint(prefix string) string {
	if i := strings.LastIndexByte(prefix, '#'); i >= 0 {
		return prefix[:i]
	}
	return prefix
}

// store is one backend's entries in the client.
type store struct {
	client storage.Client
	prefix string

	mu     sync.Mutex
	lo, hi uint64
	done   map[uint64]struct{} // removed entries at or above lo
}

// openStore reads an existing store's range (an orphan's).
func openStore(ctx context.Context, client storage.Client, prefix string) (*store, error) {
	s := &store{client: client, prefix: prefix, done: map[uint64]struct{}{}}
	lo, hi := storage.GetOperation(prefix+"lo"), storage.GetOperation(prefix+"hi")
	if err := client.Batch(ctx, lo, hi); err != nil {
		return nil, err
	}
	var err error
	if s.lo, err = readIndex(lo.Value); err != nil {
		return nil, err
	}
	if s.hi, err = readIndex(hi.Value); err != nil {
		return nil, err
	}
	if s.hi < s.lo {
		return nil, ErrCorruptEntry
	}
	return s, nil
}

func readIndex(v []byte) (uint64, error) {
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.LittleEndian.Uint64(v), nil
	}
	return 0, ErrCorruptEntry
}

func index(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }

func (s *store) key(seq uint64) string { return s.prefix + "i/" + strconv.FormatUint(seq, 10) }

// put writes a new entry and returns its sequence number.
func (s *store) put(ctx context.Context, value []byte) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.hi
	if err := s.client.Batch(ctx, storage.SetOperation(s.key(seq), value), storage.SetOperation(s.prefix+"hi", index(seq+1))); err != nil {
		return 0, err
	}
	s.hi++
	return seq, nil
}

func (s *store) get(ctx context.Context, seq uint64) ([]byte, error) {
	return s.client.Get(ctx, s.key(seq))
}

// remove deletes an entry and moves lo past every removed entry.
func (s *store) remove(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done[seq] = struct{}{}
	lo := s.lo
	for {
		if _, ok := s.done[lo]; !ok {
			break
		}
		delete(s.done, lo)
		lo++
	}
	ops := []*storage.Operation{storage.DeleteOperation(s.key(seq))}
	if lo != s.lo {
		ops = append(ops, storage.SetOperation(s.prefix+"lo", index(lo)))
	}
	if err := s.client.Batch(ctx, ops...); err != nil {
		return err
	}
	s.lo = lo
	return nil
}

// each calls fn for every live entry in sequence order; fn's error stops
// the walk and is returned.
func (s *store) each(ctx context.Context, fn func(seq uint64, value []byte) error) error {
	s.mu.Lock()
	lo, hi := s.lo, s.hi
	s.mu.Unlock()
	for seq := lo; seq < hi; seq++ {
		v, err := s.get(ctx, seq)
		if err != nil {
			return err
		}
		if v == nil {
			// Removed after lo was last written.
			s.mu.Lock()
			s.done[seq] = struct{}{}
			s.mu.Unlock()
			continue
		}
		if err := fn(seq, v); err != nil {
			return err
		}
	}
	return nil
}
