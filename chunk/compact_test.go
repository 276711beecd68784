package chunk

import (
	"bytes"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// compactorGoroutines counts badger's polling compactor goroutines.
func compactorGoroutines(t *testing.T) int {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
		t.Fatal(err)
	}
	return strings.Count(buf.String(), "levelsController).runCompactor")
}

// TestIndexCompaction fills level 0 of the index with many small writes
// (inline chunks, small memtables) and checks that the store's own
// compactor empties it without any of badger's polling compactors, that
// every chunk stays readable, also after a reopen, and that
// NumCompactors 2 still runs badger's own.
func TestIndexCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions(dir)
	opts.MemTableSize = 1 << 20
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := compactorGoroutines(t); n != 0 {
		t.Fatalf("%d badger compactor goroutines run; want none", n)
	}
	ctx := t.Context()
	var chunks [][]byte
	maxL0 := 0
	for i := range 3000 { // ~9 MiB of inline chunks: ~9 memtables
		b := randBytes(uint64(7000+i), 3<<10)
		if err := s.Put(ctx, Sum(b), b); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, b)
		maxL0 = max(maxL0, s.compactor.level0())
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.compactor.level0() >= compactL0 {
		if time.Now().After(deadline) {
			t.Fatalf("level 0 still holds %d tables", s.compactor.level0())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if maxL0 >= compactStall {
		t.Errorf("level 0 reached %d tables during the writes (stall at %d)", maxL0, compactStall)
	}
	below := 0
	for _, l := range s.db.Levels() {
		if l.Level > 0 {
			below += l.NumTables
		}
	}
	if below == 0 {
		t.Error("no table below level 0: nothing was compacted")
	}
	check := func(s *Store) {
		t.Helper()
		for i, b := range chunks {
			got, err := s.Get(ctx, Sum(b))
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("chunk %d: %v", i, err)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	opts.NumCompactors = 2
	s = openWith(t, opts)
	if s.compactor != nil {
		t.Error("NumCompactors 2: the store runs its own compactor too")
	}
	if n := compactorGoroutines(t); n != 2 {
		t.Errorf("NumCompactors 2: %d badger compactor goroutines; want 2", n)
	}
	check(s)
}
