package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
)

const testChunk = 1024

func ingestBytes(t testing.TB, s *Store, owner string, data []byte, chunkSize int64) (cid.Cid, *Manifest) {
	t.Helper()
	root, m, err := s.Ingest(context.Background(), bytes.NewReader(data), owner, chunkSize, 0)
	if err != nil {
		t.Fatalf("ingest %q: %v", owner, err)
	}
	return root, m
}

func readAll(t testing.TB, s *Store, m *Manifest, off, n int64) []byte {
	t.Helper()
	r, err := s.NewReader(context.Background(), m, off, n)
	if err != nil {
		t.Fatalf("NewReader(%d, %d): %v", off, n, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read [%d, +%d): %v", off, n, err)
	}
	return got
}

func TestIngestSizes(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	sizes := []int{0, 1, testChunk - 1, testChunk, testChunk + 1, 2 * testChunk, 7*testChunk + 13}
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := randBytes(uint64(size), size)
			owner := fmt.Sprint("file/", size)
			root, m, err := s.Ingest(ctx, bytes.NewReader(data), owner, testChunk, int64(size))
			if err != nil {
				t.Fatal(err)
			}
			if root != m.CID() {
				t.Fatalf("root %s, manifest CID %s", root, m.CID())
			}
			wantChunks := (size + testChunk - 1) / testChunk
			if m.Size != int64(size) || m.ChunkSize != testChunk || len(m.Chunks) != wantChunks {
				t.Fatalf("manifest: size %d, chunk size %d, %d chunks", m.Size, m.ChunkSize, len(m.Chunks))
			}
			for i, r := range m.Chunks {
				end := min((i+1)*testChunk, size)
				want := data[i*testChunk : end]
				if r.CID != Sum(want) || r.Size != int64(len(want)) {
					t.Fatalf("chunk %d: %v", i, r)
				}
				got, err := s.Get(ctx, r.CID)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("Get chunk %d: %v", i, err)
				}
			}
			stored, err := s.Manifest(ctx, root)
			if err != nil || stored.CID() != root {
				t.Fatalf("Manifest: %v", err)
			}
			pins, err := s.Pins(ctx, owner)
			if err != nil || pins[owner] != root {
				t.Fatalf("Pins = %v, %v", pins, err)
			}
			if got := readAll(t, s, m, 0, -1); !bytes.Equal(got, data) {
				t.Fatal("read back differs")
			}
			if has, err := s.Has(ctx, root); err != nil || !has {
				t.Fatalf("Has(root) = %v, %v", has, err)
			}
		})
	}
	checkConsistent(t, s)
}

func TestIngestArguments(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for _, cs := range []int64{0, -1, MaxChunkSize + 1} {
		if _, _, err := s.Ingest(ctx, bytes.NewReader(nil), "o", cs, 0); !errors.Is(err, ErrChunkSize) {
			t.Errorf("chunk size %d: %v", cs, err)
		}
	}
	if _, _, err := s.Ingest(ctx, bytes.NewReader(nil), "", testChunk, 0); err == nil {
		t.Error("empty owner accepted")
	}
}

func TestDedup(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	a, b, c, d := randBytes(1, testChunk), randBytes(2, testChunk), randBytes(3, testChunk), randBytes(4, 100)
	file1 := bytes.Join([][]byte{a, b, a, c}, nil) // a twice: counted once per manifest
	file2 := bytes.Join([][]byte{a, b, d}, nil)

	root1, m1 := ingestBytes(t, s, "lease/1", file1, testChunk)
	root1b, _ := ingestBytes(t, s, "lease/2", file1, testChunk)
	if root1 != root1b {
		t.Fatal("same bytes gave different roots")
	}
	_, m2 := ingestBytes(t, s, "upload/3", file2, testChunk)
	if u := s.Usage(); u.Chunks != 4 || u.Bytes != 3*testChunk+100 {
		t.Fatalf("Usage = %+v, want 4 distinct chunks", u)
	}
	if n := s.refs(t, Sum(a)); n != 3 {
		t.Fatalf("chunk a: %d refs, want 3", n)
	}
	checkConsistent(t, s)

	pins, err := s.Pins(ctx, "lease/")
	if err != nil || len(pins) != 2 {
		t.Fatalf("Pins(lease/) = %v, %v", pins, err)
	}

	// Unpin one of the two owners of file1: nothing is freed.
	if err := s.Unpin(ctx, "lease/1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(ctx, "lease/1"); err != nil { // idempotent
		t.Fatal(err)
	}
	st, err := s.GC(ctx)
	if err != nil || st.Chunks != 0 {
		t.Fatalf("GC = %+v, %v; want nothing removed", st, err)
	}
	if got := readAll(t, s, m1, 0, -1); !bytes.Equal(got, file1) {
		t.Fatal("file1 unreadable after unpinning one owner")
	}
	checkConsistent(t, s)

	// Unpin the other: only c (not shared with file2) goes.
	if err := s.Unpin(ctx, "lease/2"); err != nil {
		t.Fatal(err)
	}
	st, err = s.GC(ctx)
	if err != nil || st.Chunks != 1 || st.Bytes != testChunk {
		t.Fatalf("GC = %+v, %v; want chunk c removed", st, err)
	}
	if _, err := s.Get(ctx, Sum(c)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(c) = %v, want ErrNotFound", err)
	}
	if _, err := s.Manifest(ctx, root1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Manifest(root1) = %v, want ErrNotFound", err)
	}
	if got := readAll(t, s, m2, 0, -1); !bytes.Equal(got, file2) {
		t.Fatal("file2 damaged by GC")
	}
	checkConsistent(t, s)

	if err := s.Unpin(ctx, "upload/3"); err != nil {
		t.Fatal(err)
	}
	st, err = s.GC(ctx)
	if err != nil || st.Chunks != 3 || st.Bytes != 2*testChunk+100 {
		t.Fatalf("GC = %+v, %v", st, err)
	}
	if u := s.Usage(); u != (Usage{}) {
		t.Fatalf("Usage = %+v after everything was collected", u)
	}
	checkConsistent(t, s)
}

func TestPinReplaceAndMissingChunk(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	x, y, z := randBytes(10, testChunk), randBytes(11, testChunk), randBytes(12, 10)
	root1, _ := ingestBytes(t, s, "o", append(append([]byte{}, x...), y...), testChunk)

	// A manifest whose last chunk was never stored.
	for _, b := range [][]byte{x, z} {
		if err := s.Put(ctx, Sum(b), b); err != nil {
			t.Fatal(err)
		}
	}
	missing := randBytes(13, 10)
	m := &Manifest{ChunkSize: testChunk, Size: 2*testChunk + 10, Chunks: []Ref{
		{Sum(x), testChunk}, {Sum(x), testChunk}, {Sum(missing), 10},
	}}
	root2, err := s.PutManifest(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, "o", root2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Pin with a missing chunk = %v, want ErrNotFound", err)
	}
	if err := s.Pin(ctx, "other", root2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Pin with a missing chunk = %v, want ErrNotFound", err)
	}
	if pins, _ := s.Pins(ctx, ""); len(pins) != 1 || pins["o"] != root1 {
		t.Fatalf("pins changed: %v", pins)
	}
	if s.refs(t, Sum(x)) != 1 || s.refs(t, Sum(z)) != 0 {
		t.Fatal("reference counts changed by a failed pin")
	}
	if err := s.Pin(ctx, "o", Sum(missing)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Pin of an unknown root = %v, want ErrNotFound", err)
	}
	checkConsistent(t, s)

	// Store the missing chunk: the pin now replaces the old root.
	if err := s.Put(ctx, Sum(missing), missing); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, "o", root2); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, "o", root2); err != nil { // no-op
		t.Fatal(err)
	}
	if pins, _ := s.Pins(ctx, ""); pins["o"] != root2 {
		t.Fatalf("pins = %v", pins)
	}
	if s.refs(t, Sum(x)) != 1 || s.refs(t, Sum(y)) != 0 || s.refs(t, Sum(missing)) != 1 {
		t.Fatal("wrong counts after replacing the pin")
	}
	checkConsistent(t, s)
	st, err := s.GC(ctx)
	if err != nil || st.Chunks != 2 { // y and z
		t.Fatalf("GC = %+v, %v", st, err)
	}
	checkConsistent(t, s)
}

func TestPutVerifies(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	b := randBytes(20, 100)
	if err := s.Put(ctx, Sum(b), b[:99]); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Put of wrong bytes = %v", err)
	}
	if has, _ := s.Has(ctx, Sum(b)); has {
		t.Fatal("wrong bytes stored")
	}
	if _, err := s.Get(ctx, Sum(b)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, Sum(b), b); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, Sum(b), b); err != nil {
		t.Fatal(err)
	}
	if u := s.Usage(); u.Chunks != 1 || u.Bytes != 100 {
		t.Fatalf("Usage = %+v", u)
	}
	// A manifest travels through Put/Get too.
	m := &Manifest{ChunkSize: 100, Size: 100, Chunks: []Ref{{Sum(b), 100}}}
	enc := m.Encode()
	if err := s.Put(ctx, m.CID(), enc); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, m.CID()); err != nil || !bytes.Equal(got, enc) {
		t.Fatalf("Get(manifest) = %v", err)
	}
	if err := s.Put(ctx, m.CID(), append(enc, 0)); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Put of a wrong manifest = %v", err)
	}
	if _, err := s.PutManifest(ctx, &Manifest{ChunkSize: 1, Size: 5}); !errors.Is(err, ErrInvalidManifest) {
		t.Fatalf("PutManifest(invalid) = %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	data := randBytes(30, 3*testChunk)
	for _, max := range []int64{1, testChunk, 3*testChunk - 1} {
		_, _, err := s.Ingest(ctx, bytes.NewReader(data), "big", testChunk, max)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("max %d: Ingest = %v, want ErrTooLarge", max, err)
		}
	}
	if pins, _ := s.Pins(ctx, ""); len(pins) != 0 {
		t.Fatalf("pinned after ErrTooLarge: %v", pins)
	}
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if u := s.Usage(); u != (Usage{}) {
		t.Fatalf("Usage after GC = %+v", u)
	}
	if _, _, err := s.Ingest(ctx, bytes.NewReader(data), "big", testChunk, 3*testChunk); err != nil {
		t.Fatalf("input of exactly maxSize: %v", err)
	}
}

// cancelReader cancels a context once it has returned after bytes.
type cancelReader struct {
	r      io.Reader
	after  int
	cancel func()
	n      int
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

func TestIngestFailuresPinNothing(t *testing.T) {
	s := newStore(t)
	// A first pin of the owner, which a failed ingest must leave in place.
	oldRoot, _ := ingestBytes(t, s, "o", randBytes(40, 2*testChunk), testChunk)
	data := randBytes(41, 20*testChunk)
	readErr := errors.New("connection reset")
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"cancel mid-ingest", func() error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, _, err := s.Ingest(ctx, &cancelReader{r: bytes.NewReader(data), after: 5 * testChunk, cancel: cancel}, "o", testChunk, 0)
			return err
		}, context.Canceled},
		{"cancel at the end", func() error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, _, err := s.Ingest(ctx, &cancelReader{r: bytes.NewReader(data), after: len(data), cancel: cancel}, "o", testChunk, 0)
			return err
		}, context.Canceled},
		{"reader error", func() error {
			r := io.MultiReader(bytes.NewReader(data[:7*testChunk+3]), iotest.ErrReader(readErr))
			_, _, err := s.Ingest(t.Context(), r, "o", testChunk, 0)
			return err
		}, readErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, tt.want) {
				t.Fatalf("Ingest = %v, want %v", err, tt.want)
			}
			pins, err := s.Pins(t.Context(), "")
			if err != nil || len(pins) != 1 || pins["o"] != oldRoot {
				t.Fatalf("pins = %v, %v", pins, err)
			}
			checkConsistent(t, s)
			if _, err := s.GC(t.Context()); err != nil {
				t.Fatal(err)
			}
			if u := s.Usage(); u.Chunks != 2 {
				t.Fatalf("Usage after GC = %+v, want the 2 pinned chunks", u)
			}
			checkConsistent(t, s)
		})
	}
}

func TestGCDuringIngest(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	data := randBytes(50, 10*testChunk+5)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test ended")) }) // runs before the store's Close
	type result struct {
		root cid.Cid
		m    *Manifest
		err  error
	}
	done := make(chan result, 1)
	go func() {
		root, m, err := s.Ingest(ctx, pr, "o", testChunk, 0)
		done <- result{root, m, err}
	}()
	if _, err := pw.Write(data[:6*testChunk]); err != nil {
		t.Fatal(err)
	}
	// Wait until the first chunks are written (the reader has taken six).
	for s.Usage().Chunks < 3 {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	st, err := s.GC(ctx)
	if err != nil || st.Chunks != 0 {
		t.Fatalf("GC during ingest = %+v, %v; want nothing removed", st, err)
	}
	if _, err := pw.Write(data[6*testChunk:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if st, err := s.GC(ctx); err != nil || st.Chunks != 0 {
		t.Fatalf("GC after ingest = %+v, %v", st, err)
	}
	if got := readAll(t, s, res.m, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("file damaged")
	}
	checkConsistent(t, s)
}

func TestHold(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	b := randBytes(60, 10)
	release := s.Hold(Sum(b))
	if err := s.Put(ctx, Sum(b), b); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.GC(ctx); st.Chunks != 0 {
		t.Fatal("GC removed a held chunk")
	}
	release()
	release()
	if st, _ := s.GC(ctx); st.Chunks != 1 {
		t.Fatal("GC kept a released chunk")
	}
}

func TestCorruptionDetected(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	data := randBytes(70, 4*testChunk+10)
	_, m := ingestBytes(t, s, "o", data, testChunk)
	bad := m.Chunks[2]
	flipped := append([]byte{}, data[2*testChunk:3*testChunk]...)
	flipped[500] ^= 1
	if err := s.writeRaw(bad.CID, flipped); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, bad.CID); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Get of a corrupt chunk = %v, want ErrHashMismatch", err)
	}
	r, err := s.NewReader(ctx, m, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("read = %v, want ErrHashMismatch", err)
	}
	if !bytes.Equal(got, data[:len(got)]) || len(got) > 2*testChunk {
		t.Fatalf("reader returned %d bytes, not a verified prefix", len(got))
	}
	// A range that avoids the corrupt chunk still reads.
	if got := readAll(t, s, m, 3*testChunk, -1); !bytes.Equal(got, data[3*testChunk:]) {
		t.Fatal("range after the corrupt chunk")
	}
	// Putting the right bytes repairs it.
	if err := s.Put(ctx, bad.CID, data[2*testChunk:3*testChunk]); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, m, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("not repaired")
	}
	checkConsistent(t, s)
}

func TestReaderRanges(t *testing.T) {
	s := newStore(t)
	const cs = 16
	data := randBytes(80, 5*cs+7)
	size := int64(len(data))
	_, m := ingestBytes(t, s, "o", data, cs)
	for off := int64(0); off <= size; off++ {
		for n := int64(0); off+n <= size; n++ {
			if got := readAll(t, s, m, off, n); !bytes.Equal(got, data[off:off+n]) {
				t.Fatalf("[%d, +%d): got %d bytes, differ", off, n, len(got))
			}
		}
		if got := readAll(t, s, m, off, -1); !bytes.Equal(got, data[off:]) {
			t.Fatalf("[%d, end): differ", off)
		}
	}
	// Read behaviour with odd buffer sizes, and WriteTo.
	for _, off := range []int64{0, 15, 16, 17, 40} {
		r, err := s.NewReader(t.Context(), m, off, size-off)
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(r, data[off:]); err != nil {
			t.Fatalf("off %d: %v", off, err)
		}
		r.Close()
		r, _ = s.NewReader(t.Context(), m, off, -1)
		var buf bytes.Buffer
		if n, err := io.Copy(&buf, r); err != nil || n != size-off || !bytes.Equal(buf.Bytes(), data[off:]) {
			t.Fatalf("WriteTo off %d: %d, %v", off, n, err)
		}
		r.Close()
	}
	for _, tt := range []struct{ off, n int64 }{{-1, 1}, {size + 1, -1}, {0, size + 1}, {size, 1}, {3, -2}} {
		if _, err := s.NewReader(t.Context(), m, tt.off, tt.n); !errors.Is(err, ErrRange) {
			t.Errorf("NewReader(%d, %d) = %v, want ErrRange", tt.off, tt.n, err)
		}
	}
	// Closing mid-read stops the prefetching (goleak checks at exit).
	big := randBytes(81, 40*testChunk)
	_, bm := ingestBytes(t, s, "big", big, testChunk)
	r, err := s.NewReader(t.Context(), bm, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 10)
	if _, err := io.ReadFull(r, p); err != nil || !bytes.Equal(p, big[:10]) {
		t.Fatal(err)
	}
	r.Close()
	if _, err := r.Read(p); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	data := randBytes(90, 3*testChunk+1)
	opts := DefaultOptions(dir)
	opts.Logger = testLogger(t)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	root, m, err := s.Ingest(ctx, bytes.NewReader(data), "lease/1", testChunk, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, Sum([]byte("loose")), []byte("loose")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta(ctx, "idem/k1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	usage := s.Usage()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := s.Get(ctx, root); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}

	s = openStore(t, dir)
	if got := s.Usage(); got != usage {
		t.Fatalf("Usage after reopen = %+v, want %+v", got, usage)
	}
	pins, err := s.Pins(ctx, "")
	if err != nil || pins["lease/1"] != root {
		t.Fatalf("pins after reopen = %v, %v", pins, err)
	}
	if got, err := s.Manifest(ctx, root); err != nil || got.CID() != m.CID() {
		t.Fatalf("Manifest after reopen: %v", err)
	}
	if got := readAll(t, s, m, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("data after reopen")
	}
	if v, err := s.GetMeta(ctx, "idem/k1"); err != nil || string(v) != "v1" {
		t.Fatalf("meta after reopen = %q, %v", v, err)
	}
	checkConsistent(t, s)
}

func TestMeta(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.GetMeta(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetMeta(missing) = %v", err)
	}
	if err := s.PutMeta(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta(ctx, "a", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta(ctx, "b/x", nil); err != nil {
		t.Fatal(err)
	}
	// A meta key that looks like a pin or chunk key stays a meta key.
	if err := s.PutMeta(ctx, "p/owner", []byte("meta")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetMeta(ctx, "a"); err != nil || string(v) != "2" {
		t.Fatalf("GetMeta = %q, %v", v, err)
	}
	if v, err := s.GetMeta(ctx, "b/x"); err != nil || len(v) != 0 {
		t.Fatalf("GetMeta(empty) = %q, %v", v, err)
	}
	if pins, _ := s.Pins(ctx, ""); len(pins) != 0 {
		t.Fatalf("meta leaked into pins: %v", pins)
	}
	if keys, err := s.MetaKeys(ctx, ""); err != nil || fmt.Sprint(keys) != "[a b/x p/owner]" {
		t.Fatalf("MetaKeys = %v, %v", keys, err)
	}
	if err := s.DeleteMeta(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMeta(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMeta(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetMeta after delete = %v", err)
	}
}

func TestLargeManifestPin(t *testing.T) {
	s := openInline(t, t.TempDir()) // tiny chunks: inline
	ctx := t.Context()
	const n = 10240 // a 10 GiB file at 1 MiB chunks, here with 64-byte chunks
	data := randBytes(100, n*64)
	root, m := ingestBytes(t, s, "a", data, 64)
	if len(m.Chunks) != n {
		t.Fatalf("%d chunks", len(m.Chunks))
	}
	if err := s.Pin(ctx, "b", root); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, s)
	if err := s.Unpin(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Replacing b's large pin by a small one releases all of them.
	small, _ := ingestBytes(t, s, "c", []byte("small"), 64)
	if err := s.Pin(ctx, "b", small); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, s)
	st, err := s.GC(ctx)
	if err != nil || st.Chunks != n {
		t.Fatalf("GC = %+v, %v; want %d chunks", st, err, n)
	}
	checkConsistent(t, s)
}

// TestRecoverIntents builds the states a crash leaves in the middle of a
// large pin and checks that Open rolls them back or finishes them.
func TestRecoverIntents(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	const n = 2500          // three batches
	s := openInline(t, dir) // tiny chunks: inline
	oldRoot, oldM := ingestBytes(t, s, "o", randBytes(110, n*32), 32)
	newRoot, newM := ingestBytes(t, s, "tmp", randBytes(111, n*32), 32)
	if err := s.Unpin(ctx, "tmp"); err != nil {
		t.Fatal(err)
	}
	inc, dec := distinct(newM), distinct(oldM)

	// Crash 1: two increment batches of a pin o -> newRoot were committed.
	for _, batch := range [][]cid.Cid{inc[:refBatch], inc[refBatch : 2*refBatch]} {
		if err := s.db.Update(func(txn *badger.Txn) error {
			for _, c := range batch {
				if err := s.addRef(txn, c, 1); err != nil {
					return err
				}
			}
			return txn.Set(dbKey(pfxIntent, []byte("o")), intent{phaseInc, 2 * refBatch, newRoot, oldRoot}.encode())
		}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openInline(t, dir)
	if pins, _ := s.Pins(ctx, ""); pins["o"] != oldRoot {
		t.Fatalf("pin after rollback = %v", pins)
	}
	checkConsistent(t, s)

	// Crash 2: the pin switched and one decrement batch was committed.
	if err := s.db.Update(func(txn *badger.Txn) error {
		for _, c := range inc {
			if err := s.addRef(txn, c, 1); err != nil {
				return err
			}
		}
		return txn.Set(dbKey(pfxPin, []byte("o")), newRoot.Bytes())
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		for _, c := range dec[:refBatch] {
			if err := s.addRef(txn, c, -1); err != nil {
				return err
			}
		}
		return txn.Set(dbKey(pfxIntent, []byte("o")), intent{phaseDec, refBatch, newRoot, oldRoot}.encode())
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openInline(t, dir)
	if pins, _ := s.Pins(ctx, ""); pins["o"] != newRoot {
		t.Fatalf("pin after roll forward = %v", pins)
	}
	checkConsistent(t, s)
	if st, err := s.GC(ctx); err != nil || st.Chunks != n {
		t.Fatalf("GC = %+v, %v", st, err)
	}
}

func TestConcurrent(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	shared := randBytes(120, 3*testChunk)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 6 {
				data := append(append([]byte{}, shared...), randBytes(uint64(1000*w+i), testChunk+i)...)
				owner := fmt.Sprintf("w%d/%d", w, i%3)
				if _, _, err := s.Ingest(ctx, bytes.NewReader(data), owner, testChunk, 0); err != nil {
					errs <- err
				}
				if i%2 == 1 {
					if err := s.Unpin(ctx, fmt.Sprintf("w%d/%d", w, (i+1)%3)); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			if _, err := s.GC(ctx); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkConsistent(t, s)
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, s)
}

func TestInMemory(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := randBytes(130, 2*testChunk+3)
	_, m := ingestBytes(t, s, "o", data, testChunk)
	if got := readAll(t, s, m, 1, -1); !bytes.Equal(got, data[1:]) {
		t.Fatal("in-memory read")
	}
	if err := s.Unpin(t.Context(), "o"); err != nil {
		t.Fatal(err)
	}
	if st, err := s.GC(t.Context()); err != nil || st.Chunks != 3 {
		t.Fatalf("GC = %+v, %v", st, err)
	}
}

func blockBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(filepath.Join(dir, blocksDir), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGCReclaimsSpace(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openStore(t, dir)
	keep := randBytes(140, 2<<20)
	_, km := ingestBytes(t, s, "keep", keep, 64<<10)
	for i := range 4 {
		ingestBytes(t, s, fmt.Sprint("drop/", i), randBytes(uint64(141+i), 4<<20), 64<<10)
	}
	if got := blockBytes(t, dir); got != 18<<20 {
		t.Fatalf("%d bytes of chunk files, want %d", got, 18<<20)
	}
	for i := range 4 {
		if err := s.Unpin(ctx, fmt.Sprint("drop/", i)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.GC(ctx)
	if err != nil || st.Bytes != 16<<20 {
		t.Fatalf("GC = %+v, %v", st, err)
	}
	if got := blockBytes(t, dir); got != 2<<20 {
		t.Fatalf("%d bytes of chunk files after GC, want %d", got, 2<<20)
	}
	if got := readAll(t, s, km, 0, -1); !bytes.Equal(got, keep) {
		t.Fatal("kept file damaged by GC")
	}
	checkConsistent(t, s)
	checkFiles(t, s)
}

// TestOpenAfterEmptyLogFiles reproduces what a kill between a log file's
// creation and its first write leaves: empty .mem and .vlog files.
func TestOpenAfterEmptyLogFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	data := randBytes(150, 3*testChunk)
	_, m := ingestBytes(t, s, "o", data, testChunk)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"00099.mem", "000099.vlog"} {
		if err := os.WriteFile(filepath.Join(dir, indexDir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = openStore(t, dir)
	if got := readAll(t, s, m, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("data lost")
	}
	ingestBytes(t, s, "p", randBytes(151, 5*testChunk), testChunk)
	checkConsistent(t, s)
}

// TestDamagedChunkFiles deletes and truncates chunk files under the store:
// reads fail cleanly, a pin of a manifest that needs them fails, and a Put
// (or an Ingest) of the right bytes repairs them.
func TestDamagedChunkFiles(t *testing.T) {
	ctx := t.Context()
	data := randBytes(160, 4*testChunk)
	part := func(i int) []byte { return data[i*testChunk : (i+1)*testChunk] }
	damage := []struct {
		name string
		do   func(path string) error
		want error
	}{
		{"deleted", os.Remove, ErrNotFound},
		{"truncated", func(p string) error { return os.Truncate(p, testChunk/2) }, ErrHashMismatch},
		{"empty", func(p string) error { return os.Truncate(p, 0) }, ErrHashMismatch},
		{"longer", func(p string) error { return os.WriteFile(p, append(append([]byte{}, part(1)...), 0), 0o644) }, ErrHashMismatch},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			s := newStore(t)
			root, m := ingestBytes(t, s, "o", data, testChunk)
			bad := m.Chunks[1].CID
			if err := d.do(s.blockPath(bad)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, bad); !errors.Is(err, d.want) {
				t.Fatalf("Get = %v, want %v", err, d.want)
			}
			r, err := s.NewReader(ctx, m, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if !errors.Is(err, d.want) || !bytes.Equal(got, data[:len(got)]) || len(got) > testChunk {
				t.Fatalf("read = %d bytes, %v; want a verified prefix and %v", len(got), err, d.want)
			}
			// A pin that needs the damaged chunk fails (its file is checked).
			if d.name == "deleted" {
				if err := s.Pin(ctx, "other", root); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Pin with a chunk file missing = %v, want ErrNotFound", err)
				}
			}
			if err := s.Put(ctx, bad, part(1)); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, s, m, 0, -1); !bytes.Equal(got, data) {
				t.Fatal("not repaired by Put")
			}
			if err := s.Pin(ctx, "other", root); err != nil {
				t.Fatal(err)
			}
			// An Ingest of the same bytes also repairs a lost file.
			if err := os.Remove(s.blockPath(m.Chunks[2].CID)); err != nil {
				t.Fatal(err)
			}
			ingestBytes(t, s, "third", data, testChunk)
			if got := readAll(t, s, m, 0, -1); !bytes.Equal(got, data) {
				t.Fatal("not repaired by Ingest")
			}
			checkConsistent(t, s)
			if _, err := s.GC(ctx); err != nil {
				t.Fatal(err)
			}
			checkFiles(t, s)
		})
	}
}

// TestSweepOrphans leaves what a crash can leave in the blocks directory:
// a chunk file whose record was never committed and a temporary file. The
// first GC after Open removes them and nothing else.
func TestSweepOrphans(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openStore(t, dir)
	data := randBytes(170, 3*testChunk)
	_, m := ingestBytes(t, s, "o", data, testChunk)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	orphan := randBytes(171, testChunk)
	key, shard := blockKey(Sum(orphan))
	shardDir := filepath.Join(dir, blocksDir, shardName(shard))
	if err := os.MkdirAll(shardDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shardDir, key), orphan, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shardDir, key+".123"+tmpSuffix), orphan[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	if _, err := s.Get(ctx, Sum(orphan)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(orphan) = %v, want ErrNotFound", err)
	}
	if st, err := s.GC(ctx); err != nil || st.Chunks != 0 {
		t.Fatalf("GC = %+v, %v", st, err)
	}
	checkFiles(t, s)
	if got := readAll(t, s, m, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("pinned file damaged by the sweep")
	}
	checkConsistent(t, s)
}

// TestInline runs the life of small chunks kept in the index (the
// default for chunks under InlineSize) next to chunks in files.
func TestInline(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	opts := DefaultOptions(dir)
	opts.InlineSize = testChunk
	s := openWith(t, opts)
	data := randBytes(180, 3*testChunk+100) // three chunks in files, one inline
	root, m := ingestBytes(t, s, "o", data, testChunk)
	tail := m.Chunks[3].CID
	if err := s.Put(ctx, Sum([]byte("tiny")), []byte("tiny")); err != nil {
		t.Fatal(err)
	}
	if got := blockBytes(t, dir); got != 3*testChunk {
		t.Fatalf("%d bytes in files, want %d", got, 3*testChunk)
	}
	// Corruption of an inline chunk is found and repaired like a file's.
	if err := s.writeRaw(tail, data[3*testChunk:len(data)-1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, tail); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Get = %v, want ErrHashMismatch", err)
	}
	if err := s.Put(ctx, tail, data[3*testChunk:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, opts)
	if u := s.Usage(); u.Chunks != 5 || u.Bytes != int64(len(data))+4 {
		t.Fatalf("Usage = %+v", u)
	}
	if got := readAll(t, s, m, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("read back differs")
	}
	checkConsistent(t, s)
	if err := s.Unpin(ctx, "o"); err != nil {
		t.Fatal(err)
	}
	if st, err := s.GC(ctx); err != nil || st.Chunks != 5 {
		t.Fatalf("GC = %+v, %v", st, err)
	}
	if _, err := s.Manifest(ctx, root); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Manifest after GC = %v", err)
	}
	if got := blockBytes(t, dir); got != 0 {
		t.Fatalf("%d bytes in files after GC", got)
	}
	checkFiles(t, s)
	checkConsistent(t, s)
}

// TestGroupCommit drives many small pin changes at once through the
// committer: the same inline chunk in many uploads, owners replaced and
// unpinned while others commit, some callers giving up. Every count must
// be exact afterwards, and survive a reopen.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s := openInline(t, dir)
	ctx := t.Context()
	same := randBytes(7, 1000) // one chunk every other upload shares
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 16 {
		wg.Go(func() {
			for i := range 12 {
				data := same
				if i%2 == 1 {
					data = randBytes(uint64(100*w+i), 1500+i)
				}
				owner := fmt.Sprintf("o/%d", (w*12+i)%40) // owners shared between workers
				ictx := ctx
				if i%5 == 4 {
					c, cancel := context.WithCancel(ctx)
					cancel() // a caller that gave up: refused, nothing changed
					ictx = c
				}
				_, _, err := s.Ingest(ictx, bytes.NewReader(data), owner, DefaultSize, 0)
				if err != nil && ictx == ctx {
					errs <- err
				}
				if i%4 == 3 {
					if err := s.Unpin(ctx, fmt.Sprintf("o/%d", (w*12+i+7)%40)); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := s.GC(ctx); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkConsistent(t, s)
	pins, err := s.Pins(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openInline(t, dir)
	checkConsistent(t, s)
	again, err := s.Pins(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(pins) {
		t.Fatalf("%d pins after reopen, %d before", len(again), len(pins))
	}
	for o, r := range pins {
		if again[o] != r {
			t.Fatalf("pin %s: %s after reopen, %s before", o, again[o], r)
		}
	}
}

// GetInto reads into the buffer it is given when it is large enough
// (files and inline chunks alike), allocates when it is not, and returns
// the same bytes as Get; a corrupt chunk is refused whatever the buffer.
func TestGetInto(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	var cids []cid.Cid
	var want [][]byte
	for i, n := range []int{300 << 10, 1000, 300<<10 - 5, 17, 100 << 10, 300 << 10} {
		b := randBytes(uint64(40+i), n)
		if err := s.Put(ctx, Sum(b), b); err != nil {
			t.Fatal(err)
		}
		cids = append(cids, Sum(b))
		want = append(want, b)
	}
	var buf []byte
	for round := range 2 {
		for i, c := range cids {
			got, err := s.GetInto(ctx, c, buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want[i]) {
				t.Fatalf("round %d, chunk %d: wrong bytes", round, i)
			}
			if round == 1 && cap(buf) >= len(got)+directAlign && &got[0] != &buf[:1][0] {
				t.Fatalf("chunk %d: a buffer of %d bytes not reused for %d", i, cap(buf), len(got))
			}
			if cap(got) > cap(buf) {
				buf = got
			}
		}
	}
	if err := s.writeRaw(cids[0], want[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetInto(ctx, cids[0], buf); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("corrupt chunk: %v, want ErrHashMismatch", err)
	}
}

// TestSyncerSyncsRenames checks that the directories chunks were renamed
// into are synced in the background, before any pin asks for it.
func TestSyncerSyncsRenames(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for i := range 20 {
		b := randBytes(uint64(300+i), 8<<10)
		if err := s.Put(ctx, Sum(b), b); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		dirty := 0
		for i := range numShards + 1 {
			if s.blocks.synced[i].Load() < s.blocks.gen[i].Load() {
				dirty++
			}
		}
		if dirty == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d directories still not synced", dirty)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGetForPeer reads chunks for a peer that verifies them: the stored
// bytes as they are, but not a chunk of the wrong size nor one a verified
// read found corrupt (until Put repairs it); manifests stay verified.
func TestGetForPeer(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	data := randBytes(95, 3*testChunk+10)
	root, m := ingestBytes(t, s, "o", data, testChunk)
	for i, ref := range m.Chunks {
		got, err := s.GetForPeer(ctx, ref.CID, nil)
		if err != nil || !bytes.Equal(got, data[i*testChunk:min((i+1)*testChunk, len(data))]) {
			t.Fatalf("chunk %d: %d bytes, %v", i, len(got), err)
		}
	}
	if enc, err := s.GetForPeer(ctx, root, nil); err != nil || !bytes.Equal(enc, m.Encode()) {
		t.Fatalf("manifest: %v", err)
	}
	// Flipped bytes go out unhashed: the peer finds them.
	bad := m.Chunks[1]
	good := data[testChunk : 2*testChunk]
	flipped := append([]byte{}, good...)
	flipped[7] ^= 1
	if err := s.writeRaw(bad.CID, flipped); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetForPeer(ctx, bad.CID, nil); err != nil || !bytes.Equal(got, flipped) {
		t.Fatalf("flipped chunk for a peer: %v", err)
	}
	// Once a verified read finds it, it is not sent at all.
	if _, err := s.Get(ctx, bad.CID); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Get = %v, want ErrHashMismatch", err)
	}
	if _, err := s.GetForPeer(ctx, bad.CID, nil); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("GetForPeer of a chunk known corrupt = %v, want ErrHashMismatch", err)
	}
	if err := s.Put(ctx, bad.CID, good); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetForPeer(ctx, bad.CID, nil); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("after repair: %v", err)
	}
	// A file cut short is refused and marked corrupt.
	short := m.Chunks[2]
	if err := s.writeRaw(short.CID, good[:10]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetForPeer(ctx, short.CID, nil); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("short chunk = %v, want ErrHashMismatch", err)
	}
	if has, err := s.Has(ctx, short.CID); err != nil || has {
		t.Fatalf("short chunk: Has = %v, %v; want false", has, err)
	}
}

// TestStageThenPin stages inputs (chunks in files and an inline tail),
// runs GC between the stage and the pin (the staged chunks must survive
// it), pins one and releases the other unpinned (its chunks are garbage
// from then on), and refuses a pin after release.
func TestStageThenPin(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	opts := DefaultOptions(dir)
	opts.InlineSize = testChunk
	s := openWith(t, opts)
	kept := randBytes(190, 3*testChunk+100)
	dropped := randBytes(191, 2*testChunk)

	a, err := s.Stage(ctx, bytes.NewReader(kept), testChunk, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Stage(ctx, bytes.NewReader(dropped), testChunk, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Root() != a.Manifest().CID() || a.Manifest().Size != int64(len(kept)) || len(a.Manifest().Chunks) != 4 {
		t.Fatalf("staged root %s, manifest %+v", a.Root(), a.Manifest())
	}
	if st, err := s.GC(ctx); err != nil || st.Chunks != 0 {
		t.Fatalf("GC while staged = %+v, %v; want nothing removed", st, err)
	}
	if _, err := s.Manifest(ctx, a.Root()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("manifest before the pin: %v, want ErrNotFound", err)
	}
	if err := a.Pin(ctx, "o"); err != nil {
		t.Fatal(err)
	}
	a.Release()
	a.Release()
	b.Release()
	if err := b.Pin(ctx, "p"); err == nil {
		t.Fatal("pin after release succeeded")
	}
	if st, err := s.GC(ctx); err != nil || st.Chunks != 2 {
		t.Fatalf("GC after release = %+v, %v; want the 2 unpinned chunks removed", st, err)
	}
	if got := readAll(t, s, a.Manifest(), 0, -1); !bytes.Equal(got, kept) {
		t.Fatal("pinned stage reads back different bytes")
	}
	if got := blockBytes(t, dir); got != 3*testChunk {
		t.Fatalf("%d bytes in files, want %d", got, 3*testChunk)
	}
	checkFiles(t, s)
	checkConsistent(t, s)
}

// TestReadersShareReadAhead checks that readers fetch ahead only within
// the store's read-ahead budget (each still has the next chunk of its
// own), that one reader alone fills its window, and that every reader
// gives its share back when it is done or closed.
func TestReadersShareReadAhead(t *testing.T) {
	opts := DefaultOptions(t.TempDir())
	opts.InlineSize = -1
	opts.ReadAhead = 4
	opts.ReadAheadMemory = 3 * testChunk
	s := openWith(t, opts)
	data := randBytes(82, 12*testChunk)
	_, m := ingestBytes(t, s, "o", data, testChunk)

	inFlight := func(rs []io.ReadCloser) int {
		n := 0
		for _, r := range rs {
			n += len(r.(*reader).pending)
		}
		return n
	}
	one, err := s.NewReader(t.Context(), m, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 1)
	if _, err := io.ReadFull(one, p); err != nil {
		t.Fatal(err)
	}
	// The chunk read is current; the next one and 3 of the budget follow.
	if got := inFlight([]io.ReadCloser{one}); got != 4 {
		t.Fatalf("one reader has %d chunks in flight, want 4 (the next and 3 of the budget)", got)
	}
	one.Close()

	var rs []io.ReadCloser
	for range 10 {
		r, err := s.NewReader(t.Context(), m, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		if _, err := io.ReadFull(r, p); err != nil {
			t.Fatal(err)
		}
	}
	// Without the budget: 10 readers x 5.
	if got, most := inFlight(rs), 10+3; got > most {
		t.Fatalf("10 readers have %d chunks in flight, want at most %d", got, most)
	}
	// Every reader still reads everything, whatever its share.
	for i, r := range rs[:5] {
		rest, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(append([]byte{data[0]}, rest...), data) {
			t.Fatalf("reader %d: %d bytes, %v", i, len(rest)+1, err)
		}
	}
	for _, r := range rs {
		r.Close()
	}
	if !s.readAhead.TryAcquire(3 * testChunk) {
		t.Fatal("the readers did not give back all of the read-ahead budget")
	}
}

// TestBudgetsSmallerThanAChunk checks that a chunk larger than a whole
// budget takes all of it, and waits for nothing else: an ingest and a
// reader of chunks of 4 units with budgets of 2 go through.
func TestBudgetsSmallerThanAChunk(t *testing.T) {
	opts := DefaultOptions(t.TempDir())
	opts.InlineSize = -1
	opts.BufferMemory = 2 * testChunk
	opts.ReadAheadMemory = 2 * testChunk
	s := openWith(t, opts)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	data := randBytes(83, 10*4*testChunk+5)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			_, m, err := s.Ingest(ctx, bytes.NewReader(data), fmt.Sprintf("o%d", i), 4*testChunk, 0)
			if err != nil {
				t.Errorf("ingest %d: %v", i, err)
				return
			}
			r, err := s.NewReader(ctx, m, 0, -1)
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
				return
			}
			defer r.Close()
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
				t.Errorf("read %d: %d bytes, %v", i, len(got), err)
			}
		})
	}
	wg.Wait()
	// Everything taken was given back.
	if !s.buffers.TryAcquire(2*testChunk) || !s.readAhead.TryAcquire(2*testChunk) {
		t.Fatal("a budget was not given back whole")
	}
}

// TestCancelledIngestsGiveBackTheBudget: an ingest whose caller gives up,
// before it starts or while it reads, gives back every buffer's share of
// BufferMemory (each one cancelled at the wrong moment kept a chunk's
// worth, and enough of them stopped every upload of the node).
func TestCancelledIngestsGiveBackTheBudget(t *testing.T) {
	opts := DefaultOptions(t.TempDir())
	opts.InlineSize = -1
	opts.BufferMemory = 2 * testChunk
	s := openWith(t, opts)
	data := randBytes(84, 5*testChunk)
	for i := range 40 {
		// A share lost for good leaves a later ingest waiting for the
		// budget: this bounds the wait.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		var r io.Reader = bytes.NewReader(data)
		if i%2 == 0 {
			cancel()
		} else {
			r = &cancelReader{r: r, after: (i % 5) * testChunk, cancel: cancel}
		}
		if _, _, err := s.Ingest(ctx, r, "o", testChunk, 0); err == nil {
			t.Fatalf("ingest %d: a cancelled ingest succeeded", i)
		}
		cancel()
	}
	if !s.buffers.TryAcquire(2 * testChunk) {
		t.Fatal("cancelled ingests kept part of the budget")
	}
}
