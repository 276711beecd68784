package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/p2p"
)

func TestIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	code, out, errOut := runApp("identity", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("identity: exit %d: %s", code, errOut)
	}
	id, err := peer.Decode(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("identity printed %q: %v", out, err)
	}
	// The node starts with the key made: the peer id the invite names.
	key, err := p2p.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := peer.IDFromPrivateKey(key); got != id {
		t.Errorf("identity printed %s, the data dir's key is %s", id, got)
	}
	if _, out2, _ := runApp("identity", "--data-dir", dir, "--json"); !strings.Contains(out2, `"peer_id": "`+id.String()+`"`) {
		t.Errorf("identity again (--json): %s, want the same peer id %s", out2, id)
	}
	if err := os.WriteFile(filepath.Join(dir, p2p.KeyFile), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runApp("identity", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "identity of "+dir) {
		t.Errorf("damaged key: exit %d %q", code, errOut)
	}
}
