package node

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// sharedReadsKept is how many chunks a placement keeps after reading them
// for its pushes (1 MiB each by default).
const sharedReadsKept = 16

// sharedReadsWait is how long a push that is sharedReadsKept chunks ahead
// of another waits for it in all before the placement stops keeping its
// pushes in step: a holder that stalls or went away, or a push that began
// late (the next candidate after a refusal), must not hold the others back.
const sharedReadsWait = 250 * time.Millisecond

// sharedReads lets the pushes of one placement, which run at once and ask
// for the same chunks in the same order, read each chunk from the store
// once: a push joins a read in flight, or takes one of the last kept
// chunks read. With chunks read from the disk rather than the page cache,
// this halves what a node reads to place a file at two other holders.
// Chunk buffers are shared: the pushes only write them to their streams.
//
// Two holders never take chunks at quite the same speed, so over a large
// file the pushes drift apart; without more, 47-70% of the second push's
// chunks of 1 GiB were read and hashed again. So a push that would read a
// new chunk while the oldest one kept is not yet taken by every push that
// joined waits for the others, at most sharedReadsWait in all: after one
// wait that long the pushes go apart for good, and a push that fell behind
// the kept chunks reads the store itself.
type sharedReads struct {
	read func(context.Context, cid.Cid) ([]byte, error)
	kept int
	wait time.Duration

	mu      sync.Mutex
	reads   map[cid.Cid]*sharedRead
	order   []cid.Cid     // the keys of reads, oldest first
	pushes  int           // joined and not yet left
	changed chan struct{} // closed (and replaced) when a read is taken, a push leaves or they go apart
	apart   bool          // a wait ran out: no push waits any more
}

// sharedRead is one chunk read: data and err are set before done closes.
type sharedRead struct {
	done  chan struct{}
	data  []byte
	err   error
	taken int // gets that asked for it
}

func newSharedReads(read func(context.Context, cid.Cid) ([]byte, error), kept int) *sharedReads {
	return &sharedReads{read: read, kept: kept, wait: sharedReadsWait, reads: map[cid.Cid]*sharedRead{}, changed: make(chan struct{})}
}

// join counts a push in the ones kept in step; it calls the returned leave
// when it ends, whatever the outcome.
func (s *sharedReads) join() (leave func()) {
	s.mu.Lock()
	s.pushes++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.pushes--
			s.signal()
			s.mu.Unlock()
		})
	}
}

// signal wakes the gets that wait for the others; s.mu is held.
func (s *sharedReads) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// ahead reports whether a new read must wait: every kept slot is used and
// the oldest read is not yet taken by every push; s.mu is held.
func (s *sharedReads) ahead() bool {
	return !s.apart && s.pushes > 1 && len(s.order) >= s.kept && s.reads[s.order[0]].taken < s.pushes
}

// get returns chunk c's verified bytes, read once for all the pushes that
// ask for it close together. A failed shared read is not shared: each
// push then reads for itself (the one that failed may have been cancelled).
func (s *sharedReads) get(ctx context.Context, c cid.Cid) ([]byte, error) {
	var timeout <-chan time.Time
	s.mu.Lock()
	r, ok := s.reads[c]
	for !ok && s.ahead() {
		changed := s.changed
		s.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(s.wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-changed:
			s.mu.Lock()
		case <-timeout:
			s.mu.Lock()
			s.apart = true
			s.signal() // the other waiting gets too
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r, ok = s.reads[c]
	}
	if ok {
		r.taken++
		s.signal()
	} else {
		r = &sharedRead{done: make(chan struct{}), taken: 1}
		s.reads[c] = r
		s.order = append(s.order, c)
		if len(s.order) > s.kept {
			delete(s.reads, s.order[0])
			s.order = s.order[1:]
		}
	}
	s.mu.Unlock()
	if !ok {
		r.data, r.err = s.read(ctx, c)
		close(r.done)
		return r.data, r.err
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return s.read(ctx, c)
	}
	return r.data, nil
}
