package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/p2p/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// NewReader streams bytes [off, off+n) (n = -1: to the end) of the file m
// from holders: the chunks covering the range only, Window in flight at
// once spread over the holders, each verified, in order. A holder that
// fails a chunk (error, timeout, wrong bytes, not found) is skipped for
// that chunk and the next one tried, and tried last for the following
// chunks of this reader; [Service.Failures] counts it. A chunk no holder
// serves fails the read: the reader never returns an unverified byte.
// Memory: Window chunks at most, all but one of them taken from the
// budget all readers of s share ([Options.WindowMemory]): while it is
// spent the reader goes on with the chunks it has. Close ends the fetches
// in flight and gives back what they took.
func (s *Service) NewReader(ctx context.Context, m *chunk.Manifest, holders []peer.ID, off, n int64) io.ReadCloser {
	r := &reader{s: s, m: m, holders: slices.Clone(holders)}
	if off < 0 || off > m.Size || n < -1 || (n >= 0 && off+n > m.Size) {
		r.err = fmt.Errorf("read [%d, +%d) of %d bytes: %w", off, n, m.Size, chunk.ErrRange)
		return r
	}
	if n == -1 {
		n = m.Size - off
	}
	if n == 0 {
		r.err = io.EOF
		return r
	}
	if len(holders) == 0 {
		r.err = fmt.Errorf("read: %w", ErrNoHolders)
		return r
	}
	if !s.track() {
		r.err = ErrClosed
		return r
	}
	first, last := m.ChunkRange(off, n)
	r.skip = off - int64(first)*m.ChunkSize
	r.left = n
	// Holders that failed a request lately are asked last from the start.
	r.bad = s.FailedSince(time.Now().Add(-recentFailure))
	r.idle = make(map[peer.ID][]*lane)
	r.ctx, r.cancel = context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, r.cancel)
	r.queue = make(chan chan result, s.o.Window-1)
	r.free = make(chan struct{}, 1)
	r.free <- struct{}{}
	r.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		defer r.wg.Done()
		defer r.closeLanes() // every fetch has ended
		r.dispatch(first, last)
	}()
	return r
}

type result struct {
	frame []byte // status byte, then the chunk
	err   error
	hold  hold // what the chunk took of the window, given back by drop
}

// hold is the room a chunk of a reader's window takes from dispatch until
// the reader consumes it (or drops it): its size, in the reader's own
// free chunk or in the service's budget.
type hold struct {
	size int64
	free bool // the reader's free chunk, not the budget
}

type reader struct {
	s       *Service
	m       *chunk.Manifest
	holders []peer.ID

	ctx    context.Context
	cancel context.CancelFunc
	queue  chan chan result
	wg     sync.WaitGroup
	// free holds a token while the reader's one chunk outside the budget
	// is not in use.
	free chan struct{}

	bmu sync.Mutex
	bad map[peer.ID]bool // holders that failed in this reader

	lmu   sync.Mutex
	idle  map[peer.ID][]*lane // streams between two requests
	ended bool                // no more lanes kept: the reader is done

	cur  []byte // the current frame; pos indexes into it
	held hold   // what cur took
	pos  int
	skip int64 // bytes to drop from the next chunk
	left int64 // bytes still to return
	err  error
	once sync.Once

	head chan result // a result next stopped waiting for; release drops it
}

// dispatch starts the fetch of each chunk in [first, last], at most
// Window queued or in flight and each with room reserved, and queues
// their results in order.
func (r *reader) dispatch(first, last int) {
	var kids sync.WaitGroup
	defer close(r.queue)
	defer kids.Wait()
	for i := first; i <= last; i++ {
		f := make(chan result, 1)
		select {
		case r.queue <- f:
		case <-r.ctx.Done():
			return
		}
		// Queued first, then reserved: a reader whose window is full
		// (its consumer is slow or stopped) holds no budget for a chunk
		// it cannot queue. A result never sent took nothing.
		h, ok := r.reserve(r.m.Chunks[i].Size)
		if !ok {
			return
		}
		kids.Go(func() {
			frame, err := r.fetch(i)
			f <- result{frame, err, h}
		})
	}
}

// reserve takes room for a chunk of n bytes: the reader's free chunk
// when it is not in use, or else n bytes of the service's budget. While
// neither is there it waits, without polling, until the reader consumes
// one of its chunks (giving back the free chunk or budget) or another
// reader gives budget back. The chunk the reader waits for next always
// comes: every chunk before it is consumed, so the free chunk is back.
// False when the reader ended.
func (r *reader) reserve(n int64) (hold, bool) {
	for {
		select {
		case <-r.free:
			r.s.hold(n)
			return hold{size: n, free: true}, true
		default:
		}
		ok, freed := r.s.window.take(n)
		if ok {
			r.s.hold(n)
			return hold{size: n}, true
		}
		select {
		case <-r.free:
			r.s.hold(n)
			return hold{size: n, free: true}, true
		case <-freed:
		case <-r.ctx.Done():
			return hold{}, false
		}
	}
}

// drop gives back what a chunk took, once the reader is past it.
func (r *reader) drop(h hold) {
	r.s.hold(-h.size)
	if h.free {
		r.free <- struct{}{} // the reader's only token: there is room
	} else if h.size > 0 {
		r.s.window.give(h.size)
	}
}

// order returns the holders to try for chunk i: the healthy ones starting
// at i's turn, then those that failed in this reader.
func (r *reader) order(i int) []peer.ID {
	r.bmu.Lock()
	defer r.bmu.Unlock()
	out := make([]peer.ID, 0, len(r.holders))
	var failed []peer.ID
	for k := range r.holders {
		p := r.holders[(i+k)%len(r.holders)]
		if r.bad[p] {
			failed = append(failed, p)
		} else {
			out = append(out, p)
		}
	}
	return append(out, failed...)
}

// fetch gets chunk i from the first holder that serves it verified. A
// holder that has not answered within chunkHedge is not waited for alone:
// the next holder is asked too, the first good answer wins, and the slow
// one is asked last for the rest of the read (a holder gone without a word
// would otherwise hold the read for the timeout).
func (r *reader) fetch(i int) ([]byte, error) {
	c := r.m.Chunks[i].CID
	order := r.order(i)
	if len(order) == 0 {
		return nil, fmt.Errorf("fetch chunk %d (%s): %w", i, c, ErrNoHolders)
	}
	bad := func(p peer.ID) {
		r.s.fail(p)
		r.bmu.Lock()
		r.bad[p] = true
		r.bmu.Unlock()
	}
	var errs []error
	frame, err := hedged(r.ctx, len(order), chunkHedge,
		func(ctx context.Context, k int) ([]byte, error) {
			frame, err := r.get(ctx, order[k], c)
			if err == nil && int64(len(frame)-1) != r.m.Chunks[i].Size {
				wire.ReleaseFrame(frame)
				err = fmt.Errorf("%w: %d bytes, want %d", ErrBadChunk, len(frame)-1, r.m.Chunks[i].Size)
			}
			return frame, err
		},
		func(k int, err error) {
			r.s.log.Debug("fetch chunk failed", "peer", order[k], "cid", c, "err", err)
			bad(order[k])
			errs = append(errs, fmt.Errorf("%s: %w", order[k], err))
		},
		func(k int) { bad(order[k]) }, // slow: asked last for the rest of the read
		wire.ReleaseFrame)
	if errors.Is(err, errAllFailed) {
		err = fmt.Errorf("fetch chunk %d (%s): %w", i, c, errors.Join(errs...))
	}
	return frame, err
}

// get fetches c from p on an idle lane of this reader, or a new one, and
// keeps the lane for the next request when it is still in step. A lane
// that fails after a pause (the holder may have timed it out) is replaced
// by a new one once before the failure counts. Ending ctx abandons the
// request (and its lane).
func (r *reader) get(ctx context.Context, p peer.ID, c cid.Cid) ([]byte, error) {
	if err := r.s.ctx.Err(); err != nil {
		return nil, ErrClosed
	}
	for {
		l, reused := r.take(p)
		if l == nil {
			var err error
			octx, cancel := context.WithTimeout(ctx, r.s.o.Timeout)
			l, err = r.s.open(octx, p)
			cancel()
			if err != nil {
				return nil, err
			}
		}
		frame, err := r.s.ask(ctx, l, c, false)
		l.used = time.Now()
		switch {
		case err == nil, errors.Is(err, ErrNotFound):
			r.put(l)
		default:
			_ = l.st.Reset()
			if reused && ctx.Err() == nil && !errors.Is(err, ErrBadChunk) {
				continue
			}
		}
		return frame, err
	}
}

// take returns an idle lane to p, nil when there is none; lanes idle for
// half the service's timeout are closed (the holder may be about to time
// them out).
func (r *reader) take(p peer.ID) (*lane, bool) {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	for ls := r.idle[p]; len(ls) > 0; ls = r.idle[p] {
		l := ls[len(ls)-1]
		r.idle[p] = ls[:len(ls)-1]
		if time.Since(l.used) < r.s.o.Timeout/2 {
			return l, true
		}
		_ = l.st.Close()
	}
	return nil, false
}

// put keeps l for the next request, or closes it once the reader is done.
func (r *reader) put(l *lane) {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	if r.ended {
		_ = l.st.Close()
		return
	}
	r.idle[l.p] = append(r.idle[l.p], l)
}

// closeLanes closes the idle lanes and keeps no more.
func (r *reader) closeLanes() {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	r.ended = true
	for _, ls := range r.idle {
		for _, l := range ls {
			_ = l.st.Close()
		}
	}
	clear(r.idle)
}

// next makes the next chunk current.
func (r *reader) next() error {
	if r.cur != nil {
		wire.ReleaseFrame(r.cur)
		r.cur = nil
		r.drop(r.held)
		r.held = hold{}
	}
	f, ok := <-r.queue
	if !ok {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		return io.ErrUnexpectedEOF
	}
	var res result
	select {
	case res = <-f:
	case <-r.ctx.Done():
		r.head = f
		return r.ctx.Err()
	}
	if res.err != nil {
		r.drop(res.hold)
		return res.err
	}
	r.cur, r.held, r.pos = res.frame, res.hold, 1+int(r.skip)
	r.skip = 0
	return nil
}

func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		r.err = io.EOF
		r.release()
		return 0, io.EOF
	}
	for r.cur == nil || r.pos >= len(r.cur) {
		if err := r.next(); err != nil {
			r.err = fmt.Errorf("read: %w", err)
			r.release()
			return 0, r.err
		}
	}
	k := min(int64(len(p)), int64(len(r.cur)-r.pos), r.left)
	copy(p, r.cur[r.pos:r.pos+int(k)])
	r.pos += int(k)
	r.left -= k
	return int(k), nil
}

// WriteTo writes the rest of the range to w without an extra copy.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if r.err != nil {
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		if r.left == 0 {
			r.err = io.EOF
			r.release()
			return total, nil
		}
		if r.cur == nil || r.pos >= len(r.cur) {
			if err := r.next(); err != nil {
				r.err = fmt.Errorf("read: %w", err)
				r.release()
				return total, r.err
			}
			continue
		}
		k := min(int64(len(r.cur)-r.pos), r.left)
		n, err := w.Write(r.cur[r.pos : r.pos+int(k)])
		r.pos += n
		r.left -= int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// release stops the fetches, waits for them, frees the buffers and gives
// back the room they took.
func (r *reader) release() {
	r.once.Do(func() {
		if r.cancel == nil {
			return
		}
		r.cancel()
		r.wg.Wait()
		r.closeLanes()
		// Every fetch has ended: a result not sent is one never started.
		drop := func(f chan result) {
			select {
			case res := <-f:
				if res.frame != nil {
					wire.ReleaseFrame(res.frame)
				}
				r.drop(res.hold)
			default:
			}
		}
		if r.head != nil {
			drop(r.head)
			r.head = nil
		}
		for f := range r.queue {
			drop(f)
		}
		if r.cur != nil {
			wire.ReleaseFrame(r.cur)
			r.cur = nil
			r.drop(r.held)
			r.held = hold{}
		}
	})
}

func (r *reader) Close() error {
	r.release()
	if r.err == nil {
		r.err = ErrClosed
	}
	return nil
}
