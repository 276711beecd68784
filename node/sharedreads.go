package node

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"
)

// sharedReadsKept is how many chunks a placement keeps after reading them
// for its pushes (1 MiB each by default).
const sharedReadsKept = 16

// sharedReads lets the pushes of one placement, which run at once and ask
// for the same chunks in the same order, read each chunk from the store
// once: a push joins a read in flight, or takes one of the last kept
// chunks read; a push that fell further behind reads the store itself.
// With chunks read from the disk rather than the page cache, this halves
// what a node reads to place a file at two other holders. Chunk buffers
// are shared: the pushes only write them to their streams.
type sharedReads struct {
	read func(context.Context, cid.Cid) ([]byte, error)
	kept int

	mu    sync.Mutex
	reads map[cid.Cid]*sharedRead
	order []cid.Cid // the keys of reads, oldest first
}

// sharedRead is one chunk read: data and err are set before done closes.
type sharedRead struct {
	done chan struct{}
	data []byte
	err  error
}

func newSharedReads(read func(context.Context, cid.Cid) ([]byte, error), kept int) *sharedReads {
	return &sharedReads{read: read, kept: kept, reads: map[cid.Cid]*sharedRead{}}
}

// get returns chunk c's verified bytes, read once for all the pushes that
// ask for it close together. A failed shared read is not shared: each
// push then reads for itself (the one that failed may have been cancelled).
func (s *sharedReads) get(ctx context.Context, c cid.Cid) ([]byte, error) {
	s.mu.Lock()
	r, ok := s.reads[c]
	if !ok {
		r = &sharedRead{done: make(chan struct{})}
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
