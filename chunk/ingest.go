package chunk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// Ingest streams r into the store: it splits it into chunkSize chunks,
// hashes and writes them in parallel, then stores the manifest and pins it
// under owner, all or nothing. On any error (ctx cancellation, a reader
// error, or more than maxSize bytes: ErrTooLarge) nothing stays pinned and
// the chunks it wrote are garbage for GC. A maxSize <= 0 sets no limit.
// Memory stays bounded to a few chunks in flight whatever the input size.
// An empty input is a valid file of size 0 with no chunks.
//
// Until it returns, the chunks it wrote are safe from GC. Ingest replaces
// any root owner held before, as [Store.Pin] does. It is [Store.Stage]
// followed by [Staged.Pin].
func (s *Store) Ingest(ctx context.Context, r io.Reader, owner string, chunkSize, maxSize int64) (cid.Cid, *Manifest, error) {
	if owner == "" {
		return cid.Undef, nil, errors.New("ingest: empty owner")
	}
	st, err := s.Stage(ctx, r, chunkSize, maxSize)
	if err != nil {
		return cid.Undef, nil, err
	}
	defer st.Release()
	if err := st.Pin(ctx, owner); err != nil {
		return cid.Undef, nil, err
	}
	return st.Root(), st.Manifest(), nil
}

// Staged is an input written to the store but not yet pinned: its root
// and manifest are known, its chunks are safe from GC until Release, and
// Pin makes it durable under an owner. A caller that needs the root
// before the pin is durable (to have a quote attested, say) runs Pin
// while it does that work.
type Staged struct {
	s     *Store
	in    *ingest
	root  cid.Cid
	m     *Manifest
	small []smallChunk

	mu       sync.Mutex
	released bool
}

// Stage is the first half of [Store.Ingest]: it splits r into chunkSize
// chunks, hashes them and writes them (all but the small ones, which Pin
// stores with the pin's own commit), bounded as Ingest is. Nothing is
// pinned: a Staged that is released without a Pin leaves garbage for GC.
func (s *Store) Stage(ctx context.Context, r io.Reader, chunkSize, maxSize int64) (*Staged, error) {
	if chunkSize <= 0 || chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("ingest: %w: %d", ErrChunkSize, chunkSize)
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	ctx, cancel := s.opContext(ctx)
	defer cancel()

	in := &ingest{s: s, ctx: ctx, cancel: cancel}
	if err := in.run(r, chunkSize, maxSize); err != nil {
		in.unhold()
		return nil, fmt.Errorf("ingest: %w", err)
	}
	m := &Manifest{ChunkSize: chunkSize, Size: in.size, Chunks: in.refs}
	root := m.CID()
	s.hold(root)
	return &Staged{s: s, in: in, root: root, m: m, small: in.small}, nil
}

// Root is the staged input's root CID.
func (st *Staged) Root() cid.Cid { return st.root }

// Manifest is the staged input's manifest.
func (st *Staged) Manifest() *Manifest { return st.m }

// Pin stores the manifest and the small chunks and pins the root under
// owner in one synced commit, after the chunk files are durable: when it
// returns nil the staged input is kept. It replaces any root owner held
// before, as [Store.Pin] does. Pin after Release fails.
func (st *Staged) Pin(ctx context.Context, owner string) error {
	if owner == "" {
		return errors.New("ingest: empty owner")
	}
	st.mu.Lock()
	released := st.released
	st.mu.Unlock()
	if released {
		return errors.New("ingest: pin of a released stage")
	}
	s := st.s
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	if err := s.pin(ctx, owner, st.root, st.m, &ingested{small: st.small}); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	return nil
}

// Release ends the stage's protection from GC: what no pin took is
// garbage from then on. It is safe to call more than once, but not while
// Pin runs.
func (st *Staged) Release() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.released {
		return
	}
	st.released = true
	st.in.unhold()
	st.s.unhold(st.root)
}

// ingest is one Ingest's pipeline: the caller's goroutine reads chunks into
// a bounded set of buffers, workers hash and write them.
type ingest struct {
	s      *Store
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	refs  []Ref        // CIDs filled in by the workers
	small []smallChunk // chunks left for the pin's commit
	err   error
	size  int64
}

// maxDeferred bounds the small chunks an Ingest leaves to its pin's commit.
const maxDeferred = 64

// smallChunk is a chunk to be stored inline by the pin's own transaction,
// saving a synced commit per small upload (the quote path).
type smallChunk struct {
	c    cid.Cid
	data []byte
}

// ingested is what an Ingest hands to pin: its chunks are written, but
// for small.
type ingested struct {
	small []smallChunk
}

func (in *ingest) fail(err error) {
	in.mu.Lock()
	if in.err == nil {
		in.err = err
	}
	in.mu.Unlock()
	in.cancel()
}

func (in *ingest) failed() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err != nil
}

// unhold releases the chunks the workers held.
func (in *ingest) unhold() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range in.refs {
		if r.CID.Defined() {
			in.s.unhold(r.CID)
		}
	}
}

type job struct {
	idx int
	buf []byte
}

func (in *ingest) run(r io.Reader, chunkSize, maxSize int64) error {
	workers := in.s.opts.Workers
	nbuf := workers + 2 // chunks in memory at most
	jobs := make(chan job, workers)
	free := make(chan []byte, nbuf)
	budget := in.s.buffers
	// What a buffer takes of the budget: a chunk size larger than the
	// whole budget takes all of it.
	cost := min(chunkSize, in.s.opts.BufferMemory)
	allocated := 0 // chunk buffers taken from the store's budget
	giveBack := func(b []byte) {
		putBuf(b)
		budget.Release(cost)
		allocated--
	}

	// The workers start with the first chunks, not before: an upload
	// whose bytes do not come holds no goroutine of its own.
	var wg sync.WaitGroup
	started := 0
	send := func(j job) {
		if started < workers {
			started++
			wg.Go(func() {
				for j := range jobs {
					in.work(j)
					free <- j.buf[:chunkSize]
				}
			})
		}
		jobs <- j
	}

	piece := getPiece()
	defer putPiece(piece)
	var total int64
	var readErr error
	for idx := 0; ; idx++ {
		// The chunk's first bytes are read into a small piece; a chunk
		// buffer is taken once they came. An input that keeps the reader
		// waiting meanwhile gives back its free chunk buffers: a client
		// that stalls, or trickles a byte at a time, holds one piece, not
		// megabytes. (A thousand stalled uploads held a gigabyte.)
		head := piece
		if chunkSize < int64(len(head)) {
			head = head[:chunkSize]
		}
		n, err := readIdle(r, head, func(read <-chan struct{}) {
			// Until the input comes again, so that the buffers the
			// workers finish with meanwhile go back too.
			for {
				select {
				case b := <-free:
					giveBack(b)
				case <-read:
					return
				}
			}
		})
		if n == 0 {
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				readErr = fmt.Errorf("read: %w", err)
			}
			break
		}
		// A chunk buffer: one of this ingest's own, or one more from the
		// store's budget while it has room; with none of its own, wait for
		// the budget. So all ingests together hold at most the budget, and
		// none waits on another while it has buffers coming back.
		var buf []byte
		select {
		case buf = <-free:
		default:
			var took bool // a buffer's worth of the budget
			switch {
			case allocated < nbuf && budget.TryAcquire(cost):
				took = true
			case allocated == 0:
				took = budget.Acquire(in.ctx, cost) == nil
			default:
				select {
				case buf = <-free:
				case <-in.ctx.Done():
				}
			}
			if took {
				// Even when the ingest is cancelled meanwhile: the
				// buffer goes to free, and from there back with the
				// budget it took (a share taken and dropped was lost
				// for good: enough cancelled uploads stopped all).
				allocated++
				buf = getBuf(chunkSize)
			}
		}
		if buf == nil || in.ctx.Err() != nil {
			if buf != nil {
				free <- buf
			}
			break
		}
		copy(buf, head[:n])
		if err == nil {
			var k int
			k, err = io.ReadFull(r, buf[n:])
			n += k
		}
		total += int64(n)
		if maxSize > 0 && total > maxSize {
			readErr = fmt.Errorf("input exceeds %d bytes: %w", maxSize, ErrTooLarge)
			free <- buf
			break
		}
		in.mu.Lock()
		in.refs = append(in.refs, Ref{Size: int64(n)})
		in.mu.Unlock()
		send(job{idx: idx, buf: buf[:n]})
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("read: %w", err)
			break
		}
	}
	close(jobs)
	wg.Wait()
	close(free) // the workers are done; every buffer taken is back
	for b := range free {
		giveBack(b)
	}
	if readErr != nil {
		in.fail(readErr)
	}
	in.mu.Lock()
	err := in.err
	in.size = total
	in.mu.Unlock()
	if err == nil {
		err = in.s.ctxErr(in.ctx)
	}
	return err
}

// pieceSize is the small buffer the first bytes of each chunk are read
// into before a chunk buffer is taken for it.
const pieceSize = 4 << 10

var pieces = sync.Pool{New: func() any { b := make([]byte, pieceSize); return &b }}

func getPiece() []byte  { return *pieces.Get().(*[]byte) }
func putPiece(b []byte) { pieces.Put(&b) }

// idleRelease is how long a read may wait before the ingest gives back
// its free chunk buffers: far longer than a read from a client that keeps
// sending takes, so a fast upload keeps its buffers.
const idleRelease = 100 * time.Millisecond

// readIdle fills p as io.ReadFull does; when that takes longer than
// idleRelease it calls idle, once, from another goroutine, with a channel
// closed once the read returned, and returns only after idle did.
func readIdle(r io.Reader, p []byte, idle func(read <-chan struct{})) (int, error) {
	done, read := make(chan struct{}), make(chan struct{})
	t := time.AfterFunc(idleRelease, func() {
		defer close(done)
		idle(read)
	})
	n, err := io.ReadFull(r, p)
	close(read)
	if !t.Stop() {
		<-done
	}
	return n, err
}

// work hashes and writes one chunk. The chunk is held before it is
// written, so GC cannot remove it (or skip rewriting it) until Ingest ends.
func (in *ingest) work(j job) {
	if in.ctx.Err() != nil || in.failed() {
		return
	}
	c := Sum(j.buf)
	in.s.hold(c)
	in.mu.Lock()
	in.refs[j.idx].CID = c
	if int64(len(j.buf)) < in.s.opts.InlineSize && len(in.small) < maxDeferred {
		in.small = append(in.small, smallChunk{c: c, data: append([]byte(nil), j.buf...)})
		in.mu.Unlock()
		return
	}
	in.mu.Unlock()
	if err := in.s.putChunk(c, j.buf); err != nil {
		in.fail(err)
	}
}
