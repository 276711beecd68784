package chunk

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// NewReader streams the verified bytes [off, off+n) of the file described
// by m (n = -1: to the end). It prefetches chunks in parallel, keeping a
// small window of chunks in memory (the next chunk always, the others of
// Options.ReadAhead while the store's read-ahead budget has room), and
// never returns a byte that failed verification: the read fails with
// ErrHashMismatch instead (ErrNotFound for a chunk not stored). The reader must be closed; Close stops its
// prefetching. An offset or length outside the file gives ErrRange.
func (s *Store) NewReader(ctx context.Context, m *Manifest, off, n int64) (io.ReadCloser, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("new reader: %w", err)
	}
	if n == -1 && off >= 0 && off <= m.Size {
		n = m.Size - off
	}
	if off < 0 || n < 0 || off > m.Size || n > m.Size-off {
		return nil, fmt.Errorf("new reader: [%d, +%d) of %d bytes: %w", off, n, m.Size, ErrRange)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &reader{s: s, ctx: ctx, cancel: cancel, m: m, remaining: n, window: s.opts.ReadAhead + 1}
	if n > 0 {
		first, last := m.ChunkRange(off, n)
		r.next, r.end = first, last+1
		r.skip = off - int64(first)*m.ChunkSize
	}
	r.fill()
	return r, nil
}

// bufPool recycles chunk buffers between readers.
var bufPool sync.Pool

func getBuf(size int64) []byte {
	if p, ok := bufPool.Get().(*[]byte); ok && int64(cap(*p)) >= size {
		return (*p)[:size]
	}
	return make([]byte, size)
}

func putBuf(b []byte) {
	if b != nil {
		bufPool.Put(&b)
	}
}

type fetched struct {
	data []byte
	err  error
}

// reader reads the chunks of one range in order while the next few are
// fetched by goroutines it owns; Close cancels and waits for them.
type reader struct {
	s      *Store
	ctx    context.Context
	cancel context.CancelFunc
	m      *Manifest

	next, end int       // chunks [next, end) not yet requested
	pending   []pending // requested chunks, in order
	window    int       // chunks in flight at most
	skip      int64     // bytes to drop from the next chunk
	remaining int64     // bytes still to return
	cur       []byte    // unread part of the current chunk
	buf       []byte    // the buffer behind cur
	err       error     // sticky error
	closed    bool
}

// pending is a chunk requested; charged is what it took of the store's
// read-ahead budget.
type pending struct {
	ch      chan fetched
	charged int64
}

// fill starts fetches until the window is full: the first one in flight
// is the reader's own, each further one takes its size from the store's
// read-ahead budget or waits for the next fill.
func (r *reader) fill() {
	for len(r.pending) < r.window && r.next < r.end {
		ref := r.m.Chunks[r.next]
		var charged int64
		if len(r.pending) > 0 {
			// A chunk larger than the whole budget takes all of it.
			charged = min(ref.Size, r.s.opts.ReadAheadMemory)
			if !r.s.readAhead.TryAcquire(charged) {
				return
			}
		}
		r.next++
		ch := make(chan fetched, 1)
		r.pending = append(r.pending, pending{ch: ch, charged: charged})
		go func() {
			ch <- r.fetch(ref)
		}()
	}
}

// done gives back what p took of the budget.
func (r *reader) done(p *pending) {
	if p.charged > 0 {
		r.s.readAhead.Release(p.charged)
		p.charged = 0
	}
}

func (r *reader) fetch(ref Ref) fetched {
	if err := r.s.acquire(); err != nil {
		return fetched{err: err}
	}
	defer r.s.release()
	if err := r.ctx.Err(); err != nil {
		return fetched{err: err}
	}
	buf := getBuf(ref.Size)
	data, err := r.s.readChunk(ref.CID, buf, true)
	if err == nil && int64(len(data)) != ref.Size {
		err = fmt.Errorf("chunk %s: %d bytes, manifest says %d: %w", ref.CID, len(data), ref.Size, ErrHashMismatch)
	}
	if err != nil {
		putBuf(buf)
		return fetched{err: err}
	}
	return fetched{data: data}
}

// advance makes the next chunk current.
func (r *reader) advance() error {
	putBuf(r.buf)
	r.buf, r.cur = nil, nil
	if len(r.pending) == 0 {
		return io.ErrUnexpectedEOF // the range ended early: cannot happen for a valid manifest
	}
	p := r.pending[0]
	r.pending = r.pending[1:]
	r.done(&p)
	if len(r.pending) > 0 {
		// The next chunk is the reader's own now, not read-ahead.
		r.done(&r.pending[0])
	}
	r.fill()
	f := <-p.ch
	if f.err != nil {
		return fmt.Errorf("read: %w", f.err)
	}
	r.buf = f.data
	data := f.data[r.skip:]
	r.skip = 0
	if int64(len(data)) > r.remaining {
		data = data[:r.remaining]
	}
	r.cur = data
	return nil
}

func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, ErrClosed
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(r.cur) == 0 {
		if r.remaining == 0 {
			return 0, io.EOF
		}
		if err := r.advance(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.remaining -= int64(n)
	return n, nil
}

// WriteTo writes the rest of the range to w without an extra copy.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if r.closed {
			return total, ErrClosed
		}
		if r.err != nil {
			return total, r.err
		}
		if len(r.cur) == 0 {
			if r.remaining == 0 {
				return total, nil
			}
			if err := r.advance(); err != nil {
				r.err = err
				return total, err
			}
		}
		n, err := w.Write(r.cur)
		total += int64(n)
		r.cur = r.cur[n:]
		r.remaining -= int64(n)
		if err != nil {
			r.err = err
			return total, err
		}
	}
}

// Close stops the prefetching goroutines and waits for them.
func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.cancel()
	for i := range r.pending {
		putBuf((<-r.pending[i].ch).data)
		r.done(&r.pending[i])
	}
	r.pending = nil
	putBuf(r.buf)
	r.buf, r.cur = nil, nil
	return nil
}
