package chunk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A store whose index is gone while its chunk files remain refuses to
// open, naming both directories, and leaves every file in place: a new
// index would record none of them, and the first GC would delete them all
// as a crash's leftovers. An index emptied by hand counts as gone; a store
// without chunk files opens as new.
func TestIndexLostRefusesToOpen(t *testing.T) {
	for _, how := range []string{"removed", "emptied"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			s := openWithoutCleanup(t, dir)
			_, m := ingestBytes(t, s, "lease/a", randBytes(1, 5<<10+7), 1<<10)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			before := chunkFiles(t, dir)
			if len(before) != len(m.Chunks) {
				t.Fatalf("%d chunk files for %d chunks", len(before), len(m.Chunks))
			}
			index := filepath.Join(dir, indexDir)
			if err := os.RemoveAll(index); err != nil {
				t.Fatal(err)
			}
			if how == "emptied" {
				if err := os.Mkdir(index, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			opts := DefaultOptions(dir)
			opts.Logger = testLogger(t)
			s2, err := Open(opts)
			if err == nil {
				s2.Close()
				t.Fatal("opened without its index")
			}
			if !errors.Is(err, ErrIndexLost) || !strings.Contains(err.Error(), index) || !strings.Contains(err.Error(), filepath.Join(dir, blocksDir)) {
				t.Fatalf("open: %v, want ErrIndexLost naming %s", err, index)
			}
			if after := chunkFiles(t, dir); len(after) != len(before) {
				t.Fatalf("%d chunk files left of %d", len(after), len(before))
			}
			t.Log(err)
		})
	}
	// No chunk file: a new store.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, blocksDir), 0o755); err != nil {
		t.Fatal(err)
	}
	openStore(t, dir)
}

func openWithoutCleanup(t *testing.T, dir string) *Store {
	t.Helper()
	opts := DefaultOptions(dir)
	opts.InlineSize = -1
	opts.Logger = testLogger(t)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// chunkFiles lists the chunk files under dir's blocks.
func chunkFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, blocksDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, tmpSuffix) {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
