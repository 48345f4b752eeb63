package policies

import (
	"regexp"
	"sync"
	"sync/atomic"
)

// defaultRegexCacheSize is upstream's default cache_max_size.
const defaultRegexCacheSize = 128

// regexMatcher matches a value against a list of regular expressions and
// remembers the verdict of recently seen values in a bounded cache. The
// cache is a CLOCK (second-chance) ring: a hit only sets a bit under the
// read lock, so concurrent evaluations of common values do not serialise,
// and a miss evicts without allocating list nodes as an LRU would.
type regexMatcher struct {
	res []*regexp.Regexp

	mu    sync.RWMutex
	index map[string]int32
	slots []regexSlot
	hand  int
}

type regexSlot struct {
	key     string
	used    bool
	matched bool
	ref     atomic.Bool
}

func newRegexMatcher(res []*regexp.Regexp, size int) *regexMatcher {
	if size <= 0 {
		size = defaultRegexCacheSize
	}
	return &regexMatcher{res: res, index: make(map[string]int32, size), slots: make([]regexSlot, size)}
}

func (m *regexMatcher) match(v string) bool {
	m.mu.RLock()
	if i, ok := m.index[v]; ok {
		s := &m.slots[i]
		matched := s.matched
		s.ref.Store(true)
		m.mu.RUnlock()
		return matched
	}
	m.mu.RUnlock()

	matched := false
	for _, re := range m.res {
		if re.MatchString(v) {
			matched = true
			break
		}
	}

	m.mu.Lock()
	if _, ok := m.index[v]; !ok {
		m.insert(v, matched)
	}
	m.mu.Unlock()
	return matched
}

// insert places v in the first slot whose reference bit is clear, clearing
// bits as the hand passes. Called with mu held.
func (m *regexMatcher) insert(v string, matched bool) {
	for {
		s := &m.slots[m.hand]
		i := m.hand
		m.hand = (m.hand + 1) % len(m.slots)
		if s.used && s.ref.Swap(false) {
			continue
		}
		if s.used {
			delete(m.index, s.key)
		}
		s.key, s.used, s.matched = v, true, matched
		s.ref.Store(false)
		m.index[v] = int32(i)
		return
	}
}

// cached reports how many values the cache holds (for tests).
func (m *regexMatcher) cached() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.index)
}
