package testnet

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

// TestMemberRestartsWithoutItsBootstrap: with the node it was started
// with --bootstrap down for good, a member killed and started again
// comes back through the members it knew (peers.json in its data dir),
// and the network takes writes through it.
func TestMemberRestartsWithoutItsBootstrap(t *testing.T) {
	// Five nodes: with node0 gone, node2's quotes still find three others
	// to attest them.
	nw, ctx, stderr := startProcessNet(t, 5, "warn")
	// node2 knows the others once it has met them (its peers.json).
	known := filepath.Join(nw.Nodes[2].DataDir, "peers.json")
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(known)
		if err == nil && bytes.Contains(b, []byte(nw.Nodes[1].PeerID)) && bytes.Contains(b, []byte(nw.Nodes[3].PeerID)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node2 did not record the members it met: %s (%v)", b, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := nw.Kill(0); err != nil { // every other node's --bootstrap
		t.Fatal(err)
	}
	if err := nw.Kill(2); err != nil {
		t.Fatal(err)
	}
	if err := nw.Restart(ctx, 2); err != nil {
		t.Fatalf("restart node2 with its bootstrap down: %v\n%s", err, stderr.String())
	}
	c, err := client.New(nw.Nodes[2].HTTP, client.WithBillingToken(nw.Nodes[2].BillingToken))
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err == nil && st.Status == "up" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node2 not up again: %+v %v\n%s", st, err, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Four of five voters: the ledger takes a write through node2.
	data := []byte("written after the restart")
	f, err := c.Upload(ctx, bytes.NewReader(data), client.UploadOptions{Name: "after.bin", Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
		t.Fatal(err)
	}
}
