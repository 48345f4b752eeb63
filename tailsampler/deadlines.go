package tailsampler

// deadlineQueue is a binary min-heap of decision deadlines, one per shard.
//
// Entries are never removed from the middle: a trace decided before its
// deadline (overflow, root received, span-ingest, handoff) leaves a stale
// entry that is recognised by its generation and skipped when it reaches
// the top. compact drops stale entries when they outnumber live ones.
type deadlineQueue struct {
	items []deadlineItem
}

type deadlineItem struct {
	at  int64 // clock nanoseconds
	idx uint32
	gen uint32
}

func (q *deadlineQueue) len() int { return len(q.items) }

func (q *deadlineQueue) push(it deadlineItem) {
	q.items = append(q.items, it)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if q.items[p].at <= q.items[i].at {
			break
		}
		q.items[p], q.items[i] = q.items[i], q.items[p]
		i = p
	}
}

func (q *deadlineQueue) peek() (deadlineItem, bool) {
	if len(q.items) == 0 {
		return deadlineItem{}, false
	}
	return q.items[0], true
}

func (q *deadlineQueue) pop() deadlineItem {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items = q.items[:last]
	q.down(0)
	return top
}

func (q *deadlineQueue) down(i int) {
	n := len(q.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.items[r].at < q.items[l].at {
			m = r
		}
		if q.items[i].at <= q.items[m].at {
			return
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
}

// compact keeps only the entries live reports true for and restores the
// heap order.
func (q *deadlineQueue) compact(live func(deadlineItem) bool) {
	kept := q.items[:0]
	for _, it := range q.items {
		if live(it) {
			kept = append(kept, it)
		}
	}
	clear(q.items[len(kept):])
	q.items = kept
	for i := len(q.items)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}
