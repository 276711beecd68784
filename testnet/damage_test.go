package testnet

import (
	"bytes"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ddsnet/dds/node"
)

// A holder whose own copy went bad on disk (one chunk file altered,
// another deleted) serves GET /files/{id} whole all the same: the read
// falls back to the other holder for those chunks, verified, instead of
// answering 200 and ending the body midway, and the holder writes good
// copies of both back. No audit runs meanwhile: the read alone finds and
// repairs the damage.
func TestDamagedCopyServedWholeAndRepaired(t *testing.T) {
	nw := startStorageNet(t, 4, 2, func(_ int, cfg *node.Config) { cfg.AuditInterval = time.Hour })
	data := patterned(21, 3<<20+500)
	f := storePaid(t, nw, data, 3600, 2)
	x := holderOtherThan0(t, nw, f)
	files := chunkFiles(t, nw.Nodes[x])
	if len(files) < 3 {
		t.Fatalf("node%d holds %d chunk files", x, len(files))
	}
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range files {
			if !yield(p) {
				return
			}
		}
	})
	altered, deleted := paths[0], paths[1]
	b, err := os.ReadFile(altered)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x5a
	if err := os.WriteFile(altered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(deleted); err != nil {
		t.Fatal(err)
	}

	body, _, err := clientOf(t, nw.Nodes[x]).Download(t.Context(), f.ID, 0, -1)
	if err != nil {
		t.Fatalf("download at node%d: %v", x, err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download at node%d: %d of %d bytes, intact %v, %v", x, len(got), len(data), bytes.Equal(got, data), err)
	}
	waitRepaired(t, nw.Nodes[x], data, 30*time.Second)
	waitFor(t, 30*time.Second, "the deleted chunk file written back", func() (bool, string) {
		_, err := os.Stat(deleted)
		return err == nil, ""
	})
	if got := chunkFiles(t, nw.Nodes[x]); len(got) != len(files) {
		t.Fatalf("node%d holds %d chunk files, %d before", x, len(got), len(files))
	}
}
