package testnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/p2p/wire"
)

type liarAttestRequest struct {
	Quote json.RawMessage `json:"quote"`
}

type liarAttestResponse struct {
	Signature []byte `json:"signature"`
}

// TestBadAttestationIsReplaced makes one node of five answer every
// attestation request with a signature of the right size that does not
// verify. The issuer checks each attestation as it comes back, refuses the
// liar's and asks the next candidate: every quote is made, with 3
// attestations, none of them the liar's (without the check, the ledger
// refused those quotes and the upload failed).
func TestBadAttestationIsReplaced(t *testing.T) {
	nw := startStorageNet(t, 5, 3, nil)
	liar := nw.Nodes[4]
	liarID := liar.Node.PeerID()
	var asked atomic.Int64
	wire.Handle(liar.Node.Libp2p(), node.AttestProtocol, 10*time.Second, 64<<10,
		func(ctx context.Context, from peer.ID, req liarAttestRequest) (liarAttestResponse, error) {
			asked.Add(1)
			sig := make([]byte, 64)
			_, _ = rand.Read(sig)
			return liarAttestResponse{Signature: sig}, nil
		})

	// Each file's attesters are the 3 of the issuer's 4 peers closest to
	// its cid: over 12 files the liar is among them for most.
	c := storageClient(t, nw.Nodes[0])
	for i := range 12 {
		data := patterned(uint64(300+i), 2000)
		f, err := c.Upload(t.Context(), bytes.NewReader(data), client.UploadOptions{Name: fmt.Sprint("f", i), Size: int64(len(data))})
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if len(f.AttestedBy) != 3 || slices.Contains(f.AttestedBy, liarID) {
			t.Fatalf("upload %d attested by %v (the liar is %s)", i, f.AttestedBy, liarID)
		}
	}
	if asked.Load() == 0 {
		t.Fatal("the liar was never asked to attest: the test proves nothing")
	}
	t.Logf("the liar was asked %d times of 12 quotes", asked.Load())
}

// TestSlowAttesterIsHedged makes one node of five take its time (10 s)
// over every attestation request: the issuer asks the next candidate
// alongside once the slow one is late (hedging), so every quote is made
// within a fraction of the attest timeout, with 3 attestations, none of
// them the slow node's.
func TestSlowAttesterIsHedged(t *testing.T) {
	nw := startStorageNet(t, 5, 3, nil)
	slow := nw.Nodes[4]
	slowID := slow.Node.PeerID()
	var asked atomic.Int64
	wire.Handle(slow.Node.Libp2p(), node.AttestProtocol, 20*time.Second, 64<<10,
		func(ctx context.Context, from peer.ID, req liarAttestRequest) (liarAttestResponse, error) {
			asked.Add(1)
			select {
			case <-time.After(10 * time.Second):
			case <-ctx.Done():
			}
			return liarAttestResponse{}, ctx.Err()
		})

	c := storageClient(t, nw.Nodes[0])
	for i := range 12 {
		data := patterned(uint64(400+i), 2000)
		start := time.Now()
		f, err := c.Upload(t.Context(), bytes.NewReader(data), client.UploadOptions{Name: fmt.Sprint("f", i), Size: int64(len(data))})
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		// Without the hedge an upload that asked the slow node waited for
		// the attest timeout (3 s).
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("upload %d took %v", i, d)
		}
		if len(f.AttestedBy) != 3 || slices.Contains(f.AttestedBy, slowID) {
			t.Fatalf("upload %d attested by %v (the slow node is %s)", i, f.AttestedBy, slowID)
		}
	}
	if asked.Load() == 0 {
		t.Fatal("the slow node was never asked to attest: the test proves nothing")
	}
	t.Logf("the slow node was asked %d times of 12 quotes", asked.Load())
}
