package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/ddsnet/dds/internal/smallfs"
)

// smallOptions are options whose index needs little room (IndexHeadroom
// 8 MiB), for a store on a small file system.
func smallOptions(t testing.TB, dir string) Options {
	opts := DefaultOptions(dir)
	opts.MemTableSize = 1 << 20
	opts.ValueLogFileSize = 1 << 20
	opts.Logger = testLogger(t)
	return opts
}

func TestIndexHeadroom(t *testing.T) {
	if got, want := IndexHeadroom(DefaultOptions("x")), int64(53<<20); got != want {
		t.Errorf("IndexHeadroom(DefaultOptions) = %d, want %d (the figure the doc gives)", got, want)
	}
	if got, want := IndexHeadroom(smallOptions(t, "x")), int64(8<<20); got != want {
		t.Errorf("IndexHeadroom(small) = %d, want %d", got, want)
	}
	if got := IndexHeadroom(Options{InMemory: true}); got != 0 {
		t.Errorf("IndexHeadroom(in memory) = %d, want 0", got)
	}
}

type storedFile struct {
	owner string
	m     *Manifest
	data  []byte
}

func readBack(t *testing.T, s *Store, files []storedFile) {
	t.Helper()
	for _, f := range files {
		r, err := s.NewReader(t.Context(), f.m, 0, f.m.Size)
		if err != nil {
			t.Fatalf("read %s: %v", f.owner, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, f.data) {
			t.Fatalf("read %s: %d bytes, err %v; want its %d bytes", f.owner, len(got), err, len(f.data))
		}
	}
}

// TestFullFileSystem fills a small file system with chunks: the store
// refuses the chunk that would take the room it keeps (ErrNoSpace), a
// write that meets ENOSPC itself says ErrNoSpace too, what was stored
// reads back, nothing an upload that failed wrote stays, the store closes
// and opens again on the full file system, and takes chunks again as
// soon as space is freed.
func TestFullFileSystem(t *testing.T) {
	dir := smallfs.Mount(t, 96<<20)
	ctx := context.Background()
	opts := smallOptions(t, dir)
	opts.Reserve = 4 << 20 // the caller's: the node's ledger
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()

	sp, err := s.Space()
	if err != nil {
		t.Fatal(err)
	}
	if sp.Ballast != 12<<20 || sp.Reserve < 3<<20 || sp.Free <= 0 || sp.Free > sp.Avail-sp.Reserve || sp.Total < 80<<20 {
		t.Fatalf("space of an empty store: %+v", sp)
	}

	// Something else takes most of it: 30 MiB are left.
	filler := smallfs.Fill(t, dir, 30<<20)

	// Fill it with 3 MiB files until one is refused.
	const fileSize = 3 << 20
	var files []storedFile
	var refused error
	for i := range 100 {
		data := randBytes(uint64(i), fileSize)
		owner := fmt.Sprintf("f%d", i)
		_, m, err := s.Ingest(ctx, bytes.NewReader(data), owner, 1<<20, 0)
		if err != nil {
			refused = err
			break
		}
		files = append(files, storedFile{owner, m, data})
	}
	if !errors.Is(refused, ErrNoSpace) {
		t.Fatalf("filling the file system: %d files stored, then %v; want ErrNoSpace", len(files), refused)
	}
	t.Logf("%d files stored, then: %v", len(files), refused)
	sp, _ = s.Space()
	if sp.Free >= fileSize || sp.Avail < sp.Reserve {
		t.Errorf("space when full: %+v: the reserve must stay free, and less than a file", sp)
	}
	usage := s.Usage()
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Usage().Bytes, int64(len(files))*fileSize; got != want {
		t.Errorf("after GC the store holds %d bytes, want the %d of the files it kept (%d before GC)", got, want, usage.Bytes)
	}
	readBack(t, s, files)

	// Something else takes the rest: the file system is full.
	smallfs.Fill(t, dir, 0)
	if sp, _ := s.Space(); !sp.Full() {
		t.Fatalf("space after the filler: %+v, want full", sp)
	}
	one := randBytes(1000, 1<<20)
	if _, _, err := s.Ingest(ctx, bytes.NewReader(one), "one", 1<<20, 0); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("ingest on a full file system: %v, want ErrNoSpace", err)
	}
	// The ballast went, so the index and the ledger have its room. A
	// write that meets ENOSPC itself (something took that room too, and
	// the store's own check is let past) says ErrNoSpace, and leaves
	// nothing behind.
	if sp, _ := s.Space(); sp.Ballast != 0 || sp.Avail < 10<<20 {
		t.Fatalf("space after the filler: %+v, want the ballast's room free", sp)
	}
	filler2 := smallfs.Fill(t, dir, 0)
	setSlack := func(v int64) (old int64) {
		s.space.mu.Lock()
		defer s.space.mu.Unlock()
		old, s.space.slack = s.space.slack, v
		return old
	}
	slack := setSlack(-1 << 40)
	err = s.Put(ctx, Sum(one), one)
	setSlack(slack)
	if err := os.Remove(filler2); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("put meeting ENOSPC: %v, want ErrNoSpace with its cause", err)
	}
	if ok, err := s.Has(ctx, Sum(one)); ok || err != nil {
		t.Fatalf("a chunk whose write failed is stored (%v, %v)", ok, err)
	}
	readBack(t, s, files)

	// Closed and opened again on the full file system.
	if err := s.Close(); err != nil {
		t.Fatalf("close on a full file system: %v", err)
	}
	if s, err = Open(opts); err != nil {
		t.Fatalf("open on a full file system: %v", err)
	}
	readBack(t, s, files)
	if _, _, err := s.Ingest(ctx, bytes.NewReader(one), "one", 1<<20, 0); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("ingest on a full file system after a restart: %v, want ErrNoSpace", err)
	}

	// Space comes back: the next write takes it, no restart needed.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	root, _, err := s.Ingest(ctx, bytes.NewReader(one), "one", 1<<20, 0)
	if err != nil {
		t.Fatalf("ingest once space came back: %v", err)
	}
	if !root.Defined() || root == cid.Undef {
		t.Fatal("no root")
	}
	// The store takes its ballast back.
	deadline := time.Now().Add(5 * SpaceInterval)
	for sp, _ := s.Space(); sp.Ballast == 0; sp, _ = s.Space() {
		if time.Now().After(deadline) {
			t.Fatalf("the ballast was not taken back: %+v", sp)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Freeing chunks frees room too.
	for _, f := range files[:len(files)/2] {
		if err := s.Unpin(ctx, f.owner); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	readBack(t, s, files[len(files)/2:])
	if sp, _ := s.Space(); sp.Free < int64(len(files)/2)*fileSize-(1<<20) {
		t.Errorf("space after GC freed %d files: %+v", len(files)/2, sp)
	}
}
