package testnet

import (
	"bytes"
	"fmt"
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

// A holder whose copy of a chunk went bad while the file's other holder
// is away cannot repair it: once RepairGiveUp has passed it releases its
// holding, so that the file no longer shows it as a holder it cannot
// serve; when the other holder is back, placement finds the file a new
// one and every node serves it intact.
func TestUnrepairableCopyIsReleased(t *testing.T) {
	nw := startStorageNet(t, 5, 2, func(_ int, cfg *node.Config) {
		cfg.AuditInterval = time.Hour
		cfg.RepairGiveUp = time.Second
	})
	data := patterned(23, 2<<20+300)
	f := storePaid(t, nw, data, 3600, 2)
	x := holderOtherThan0(t, nw, f)
	y := slices.IndexFunc(nw.Nodes, func(nd *Node) bool {
		return nd != nw.Nodes[x] && slices.Contains(f.Replicas, nd.Node.PeerID())
	})
	z := slices.IndexFunc(nw.Nodes, func(nd *Node) bool { return !slices.Contains(f.Replicas, nd.Node.PeerID()) })
	files := chunkFiles(t, nw.Nodes[x])
	var bad string
	for p := range files {
		bad = p
		break
	}
	b, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x33
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := nw.Stop(y); err != nil {
		t.Fatal(err)
	}
	// A read at x finds the bad chunk, and no other holder to fetch it from.
	if body, _, err := clientOf(t, nw.Nodes[x]).Download(t.Context(), f.ID, 0, -1); err == nil {
		io.Copy(io.Discard, body)
		body.Close()
	}
	zc := clientOf(t, nw.Nodes[z])
	xID := nw.Nodes[x].Node.PeerID()
	waitFor(t, 30*time.Second, "the holder with a bad copy released", func() (bool, string) {
		got, err := zc.File(t.Context(), f.ID)
		if err != nil {
			return false, err.Error()
		}
		return !slices.Contains(got.Replicas, xID), fmt.Sprintf("holders %v", got.Replicas)
	})

	if err := nw.Restart(t.Context(), y); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the file stored again on two holders", func() (bool, string) {
		got, err := zc.File(t.Context(), f.ID)
		if err != nil {
			return false, err.Error()
		}
		return got.State == "stored" && len(got.Replicas) == 2, fmt.Sprintf("%s, holders %v", got.State, got.Replicas)
	})
	body, _, err := zc.Download(t.Context(), f.ID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download at node%d after the repair: %d of %d bytes, %v", z, len(got), len(data), err)
	}
}
