package chunk

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

// randBytes returns n deterministic pseudo-random bytes for seed.
func randBytes(seed uint64, n int) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openStore opens a store in dir and closes it at the end of the test.
// Every chunk goes to a file (tests use small chunks); openInline keeps
// small chunks in the index as DefaultOptions do.
func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	opts := DefaultOptions(dir)
	opts.InlineSize = -1
	return openWith(t, opts)
}

// openInline opens a store in dir with DefaultOptions: chunks smaller than
// 4 KiB inline in the index, for tests of many tiny chunks.
func openInline(t testing.TB, dir string) *Store {
	t.Helper()
	return openWith(t, DefaultOptions(dir))
}

// openWith opens a store with opts, holding no ballast (Options.NoBallast:
// the tests of the ballast open their stores themselves).
func openWith(t testing.TB, opts Options) *Store {
	t.Helper()
	opts.NoBallast = true
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func newStore(t testing.TB) *Store {
	t.Helper()
	return openStore(t, t.TempDir())
}

// writeRaw replaces a stored chunk's bytes without any check: a test hook
// to simulate corruption on disk.
func (s *Store) writeRaw(c cid.Cid, data []byte) error {
	var rec record
	err := s.db.View(func(txn *badger.Txn) error {
		var ok bool
		var err error
		if rec, ok, err = getRecord(txn, c); err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return err
	}
	if rec.inline {
		return s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(dbKey(pfxChunk, c.Bytes()), data)
		})
	}
	return os.WriteFile(s.blocks.path(blockKey(c)), data, 0o644)
}

// blockPath is the file of a chunk stored in a file.
func (s *Store) blockPath(c cid.Cid) string {
	return s.blocks.path(blockKey(c))
}

// refs returns a chunk's stored reference count, or -1 when it has no record.
func (s *Store) refs(t testing.TB, c cid.Cid) int64 {
	t.Helper()
	var n int64 = -1
	err := s.db.View(func(txn *badger.Txn) error {
		rec, ok, err := getRecord(txn, c)
		if ok {
			n = rec.refs
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkConsistent checks the store's invariants: no intent left, every
// pinned manifest is stored and all its chunks are present and verify,
// every chunk's count equals the number of pins referencing it, and Usage
// matches the records.
func checkConsistent(t testing.TB, s *Store) {
	t.Helper()
	ctx := context.Background()
	pins, err := s.Pins(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[cid.Cid]int64)
	for owner, root := range pins {
		m, err := s.Manifest(ctx, root)
		if err != nil {
			t.Fatalf("pin %q: %v", owner, err)
		}
		for _, c := range distinct(m) {
			want[c]++
		}
		for i, r := range m.Chunks {
			data, err := s.Get(ctx, r.CID)
			if err != nil {
				t.Fatalf("pin %q chunk %d: %v", owner, i, err)
			}
			if int64(len(data)) != r.Size {
				t.Fatalf("pin %q chunk %d: %d bytes, want %d", owner, i, len(data), r.Size)
			}
		}
	}
	var chunks, bytes int64
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfxIntent})
		it.Rewind()
		if it.Valid() {
			t.Errorf("intent left: %q", it.Item().Key())
		}
		it.Close()
		it = txn.NewIterator(badger.IteratorOptions{Prefix: pfxRecord})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			c, err := cid.Cast(it.Item().Key()[len(pfxRecord):])
			if err != nil {
				return err
			}
			var rec record
			if err := it.Item().Value(func(v []byte) error {
				rec, err = decodeRecord(v)
				return err
			}); err != nil {
				return err
			}
			if rec.refs != want[c] {
				t.Errorf("chunk %s: %d refs, want %d", c, rec.refs, want[c])
			}
			delete(want, c)
			chunks++
			bytes += rec.size
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for c := range want {
		t.Errorf("pinned chunk %s has no record", c)
	}
	if u := s.Usage(); u.Chunks != chunks || u.Bytes != bytes {
		t.Errorf("Usage = %+v, records say %d chunks, %d bytes", u, chunks, bytes)
	}
}

// checkFiles checks that the blocks directory holds exactly one file per
// chunk record stored in a file, of the recorded size: no orphans, no
// temporary files. It holds only after a GC (orphans are swept by GC).
func checkFiles(t testing.TB, s *Store) {
	t.Helper()
	want := make(map[cid.Cid]int64)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfxRecord})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			c, err := cid.Cast(it.Item().Key()[len(pfxRecord):])
			if err != nil {
				return err
			}
			rec, _, err := getRecord(txn, c)
			if err != nil {
				return err
			}
			if !rec.inline {
				want[c] = rec.size
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for shard := range numShards {
		files, err := s.blocks.walk(shard)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			size, ok := want[f.c]
			if !f.c.Defined() || !ok {
				t.Errorf("file without a record: %s", f.path)
				continue
			}
			fi, err := os.Stat(f.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != size {
				t.Errorf("file %s: %d bytes, record says %d", f.path, fi.Size(), size)
			}
			delete(want, f.c)
		}
	}
	for c := range want {
		t.Errorf("chunk %s: record without a file", c)
	}
}
