package chunk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

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
// any root owner held before, as [Store.Pin] does.
func (s *Store) Ingest(ctx context.Context, r io.Reader, owner string, chunkSize, maxSize int64) (cid.Cid, *Manifest, error) {
	if owner == "" {
		return cid.Undef, nil, errors.New("ingest: empty owner")
	}
	if chunkSize <= 0 || chunkSize > MaxChunkSize {
		return cid.Undef, nil, fmt.Errorf("ingest: %w: %d", ErrChunkSize, chunkSize)
	}
	if err := s.acquire(); err != nil {
		return cid.Undef, nil, err
	}
	defer s.release()
	ctx, cancel := s.opContext(ctx)
	defer cancel()

	in := &ingest{s: s, ctx: ctx, cancel: cancel}
	defer in.unhold()
	if err := in.run(r, chunkSize, maxSize); err != nil {
		return cid.Undef, nil, fmt.Errorf("ingest: %w", err)
	}
	m := &Manifest{ChunkSize: chunkSize, Size: in.size, Chunks: in.refs}
	root := m.CID()
	s.hold(root)
	defer s.unhold(root)
	if err := s.pin(ctx, owner, root, m, &ingested{small: in.small}); err != nil {
		return cid.Undef, nil, fmt.Errorf("ingest: %w", err)
	}
	return root, m, nil
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
	allocated := 0

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				in.work(j)
				free <- j.buf[:chunkSize]
			}
		})
	}

	var total int64
	var readErr error
	for idx := 0; ; idx++ {
		var buf []byte
		select {
		case buf = <-free:
		default:
			if allocated < nbuf {
				allocated++
				buf = getBuf(chunkSize)
				break
			}
			select {
			case buf = <-free:
			case <-in.ctx.Done():
			}
		}
		if buf == nil || in.ctx.Err() != nil {
			break
		}
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			total += int64(n)
			if maxSize > 0 && total > maxSize {
				readErr = fmt.Errorf("input exceeds %d bytes: %w", maxSize, ErrTooLarge)
				break
			}
			in.mu.Lock()
			in.refs = append(in.refs, Ref{Size: int64(n)})
			in.mu.Unlock()
			jobs <- job{idx: idx, buf: buf[:n]}
		} else {
			free <- buf
		}
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
	close(free) // the workers are done; a buffer taken before a break is dropped
	for b := range free {
		putBuf(b)
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
