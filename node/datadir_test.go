package node

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/p2p"
)

// A member whose data dir lost its identity key, its billing token (none
// given), its ledger beside its data, or its chunk index beside its chunk
// files refuses to start, naming what is missing; restored, it starts as
// itself, its file whole.
func TestLostStateRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	n, f, data := startWithPaidFile(t, dir, 7, 4096)
	peerID := n.PeerID()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	start := func(adjust func(*Config)) (*Node, error) { return tryStartDev(t, dir, SystemClock, adjust) }
	refused := func(moved, name string, adjust func(*Config)) {
		t.Helper()
		path := filepath.Join(dir, moved)
		if err := os.Rename(path, path+".aside"); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.Rename(path+".aside", path); err != nil {
				t.Fatal(err)
			}
		}()
		n, err := start(adjust)
		if err == nil {
			n.Close()
			t.Fatalf("started without %s", moved)
		}
		if !errors.Is(err, ErrStateLost) || !strings.Contains(err.Error(), name) {
			t.Fatalf("without %s: %v", moved, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the refused start made a new %s", moved)
		}
	}
	refused(p2p.KeyFile, p2p.KeyFile, nil)
	refused("billing.token", "billing.token", nil)
	refused("raft", "raft/", nil)
	refused(filepath.Join("chunks", "index"), filepath.Join("chunks", "index"), nil)
	// A token given in the configuration stands in for the file.
	if err := os.Rename(TokenFile(dir), TokenFile(dir)+".aside"); err != nil {
		t.Fatal(err)
	}
	n, err := start(func(c *Config) { c.BillingToken = "given" })
	if err != nil {
		t.Fatalf("with the token given: %v", err)
	}
	n.Close()
	if err := os.Rename(TokenFile(dir)+".aside", TokenFile(dir)); err != nil {
		t.Fatal(err)
	}
	n, err = start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.PeerID() != peerID {
		t.Fatal("restored, the node is someone else")
	}
	if b := readAll(t, n, f.ID, 0, -1); !bytes.Equal(b, data) {
		t.Fatal("the file changed")
	}
}

// startWithPaidFile starts a dev node on dir with one paid file of size
// pseudo-random bytes (from seed); it returns the node, the file and its
// bytes.
func startWithPaidFile(t *testing.T, dir string, seed uint64, size int) (*Node, File, []byte) {
	t.Helper()
	n := startDev(t, dir, SystemClock)
	data := randomBytes(seed, size)
	f, err := n.Upload(t.Context(), Upload{Name: "paid.bin", Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Pay(t.Context(), PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); err != nil {
		t.Fatal(err)
	}
	return n, f, data
}
