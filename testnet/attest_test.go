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
	"github.com/ddsnet/dds/p2p/attest"
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
	quotesAvoiding(t, "liar", 300, func(ctx context.Context) (liarAttestResponse, error) {
		sig := make([]byte, 64)
		_, _ = rand.Read(sig)
		return liarAttestResponse{Signature: sig}, nil
	})
}

// TestSlowAttesterIsHedged makes one node of five take its time (10 s)
// over every attestation request: the issuer asks the next candidate
// alongside once the slow one is late (hedging), so every quote is made
// within a fraction of the attest timeout, with 3 attestations, none of
// them the slow node's.
func TestSlowAttesterIsHedged(t *testing.T) {
	took := quotesAvoiding(t, "slow node", 400, func(ctx context.Context) (liarAttestResponse, error) {
		select {
		case <-time.After(10 * time.Second):
		case <-ctx.Done():
		}
		return liarAttestResponse{}, ctx.Err()
	})
	// Without the hedge an upload that asked the slow node waited for the
	// attest timeout (3 s).
	for i, d := range took {
		if d > 2*time.Second {
			t.Errorf("upload %d took %v", i, d)
		}
	}
}

// quotesAvoiding starts 5 nodes, has node 4 answer attestation requests
// with answer, and makes 12 quotes at node 0 (files seeded from seed):
// each must have 3 attestations, none of them node 4's (who), and node 4
// must have been asked at least once; over 12 files it is among the 3 of
// the issuer's 4 peers closest to the cid for most. It returns how long
// each upload took.
func quotesAvoiding(t *testing.T, who string, seed uint64, answer func(ctx context.Context) (liarAttestResponse, error)) []time.Duration {
	t.Helper()
	nw := startStorageNet(t, 5, 3, nil)
	odd := nw.Nodes[4].Node.PeerID()
	var asked atomic.Int64
	wire.Handle(nw.Nodes[4].Node.Libp2p(), attest.Protocol, 20*time.Second, 64<<10,
		func(ctx context.Context, from peer.ID, req liarAttestRequest) (liarAttestResponse, error) {
			asked.Add(1)
			return answer(ctx)
		})
	c := storageClient(t, nw.Nodes[0])
	var took []time.Duration
	for i := range 12 {
		data := patterned(seed+uint64(i), 2000)
		start := time.Now()
		f, err := c.Upload(t.Context(), bytes.NewReader(data), client.UploadOptions{Name: fmt.Sprint("f", i), Size: int64(len(data))})
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		took = append(took, time.Since(start))
		if len(f.AttestedBy) != 3 || slices.Contains(f.AttestedBy, odd) {
			t.Fatalf("upload %d attested by %v (the %s is %s)", i, f.AttestedBy, who, odd)
		}
	}
	if asked.Load() == 0 {
		t.Fatalf("the %s was never asked to attest: the test proves nothing", who)
	}
	t.Logf("the %s was asked %d times of 12 quotes", who, asked.Load())
	return took
}
