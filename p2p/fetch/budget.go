package fetch

import "sync"

// budget is the service's [Options.WindowMemory]: bytes of chunks that
// readers may hold queued or in flight beyond the one each reader always
// may. Taking never blocks; a reader that finds the budget spent waits
// for one of its own chunks to be consumed or for [budget.give], whose
// channel [budget.take] hands out.
type budget struct {
	mu    sync.Mutex
	size  int64
	used  int64
	freed chan struct{} // closed by the next give; nil when nobody waits
}

func newBudget(size int64) *budget { return &budget{size: size} }

// take takes n bytes when they are free. When they are not, it returns a
// channel that closes when bytes are given back: taken under the same
// lock, so no give between the failed take and the wait goes unseen.
func (b *budget) take(n int64) (bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n <= b.size {
		b.used += n
		return true, nil
	}
	if b.freed == nil {
		b.freed = make(chan struct{})
	}
	return false, b.freed
}

// give gives n bytes back and wakes those waiting for some.
func (b *budget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic("fetch: window budget given back more than taken")
	}
	if b.freed != nil {
		close(b.freed)
		b.freed = nil
	}
}

// inUse reports the bytes taken.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// hold counts n bytes more held by readers (less when negative).
func (s *Service) hold(n int64) {
	v := s.held.Add(n)
	for p := s.peakHeld.Load(); v > p && !s.peakHeld.CompareAndSwap(p, v); p = s.peakHeld.Load() {
	}
}
