package node

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/p2p/ledgerrpc"
)

// TestForwardedCommandChecks: a forwarded command is proposed by the
// member that forwards it (whether it signed it, every replica checks),
// and its time is the leader's within clockSkew.
func TestForwardedCommandChecks(t *testing.T) {
	newPeer := func() peer.ID {
		_, pub, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a, b := newPeer(), newPeer()
	now := time.Unix(1, 0)
	// by proposes a payment it took, at now, signed with a made-up key.
	payBy := func(by string) []byte {
		c := billing.Command{Time: now, Pay: &billing.Pay{PaymentID: "p", FileID: "f", Status: "success", Amount: 1, ReceivedBy: by}}
		msg, err := c.Message(by)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := c.WithSig(by, msg, make([]byte, 64)).Encode()
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	pay := payBy(a.String())
	if err := checkForwarded(a, pay, now); err != nil {
		t.Fatalf("a forwarding its own command: %v", err)
	}
	// A member forwards its own commands, and no other's.
	for _, by := range []string{b.String(), ""} {
		if err := checkForwarded(a, payBy(by), now); !errors.Is(err, ledgerrpc.ErrForbidden) {
			t.Errorf("a command forwarded by %s as proposed by %q: %v", a, by, err)
		}
	}
	if err := checkForwarded(a, []byte("{"), now); err == nil {
		t.Error("not a command: accepted")
	}
	// Stamped ahead of the leader's clock by more than clockSkew, or behind
	// it by more than twice that (pay is stamped at now: the leader's
	// clock is moved instead).
	for _, leader := range []time.Duration{-clockSkew - time.Millisecond, 2*clockSkew + time.Millisecond, -100 * 365 * 24 * time.Hour} {
		if err := checkForwarded(a, pay, now.Add(leader)); !errors.Is(err, ledgerrpc.ErrForbidden) {
			t.Errorf("the leader's clock at %v from the command's: %v", leader, err)
		}
	}
	for _, leader := range []time.Duration{-clockSkew, 2 * clockSkew} {
		if err := checkForwarded(a, pay, now.Add(leader)); err != nil {
			t.Errorf("the leader's clock at %v from the command's, within the bounds: %v", leader, err)
		}
	}
}

// The issuer orders its attesters as the ledger ranks them
// (billing.PeerHash, billing.CIDHash): it asks only members the ledger
// takes.
func TestAttesterOrderIsTheLedgers(t *testing.T) {
	var ids []string
	for range 8 {
		_, pub, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		k, ok := peerKeyOf(id.String())
		h, ok2 := billing.PeerHash(id.String())
		if !ok || !ok2 || k.hash != h {
			t.Fatalf("%s: the node's point %x, the ledger's %x", id, k.hash, h)
		}
		ids = append(ids, id.String())
	}
	// byDistance orders by the XOR of those points with the cid's, as the
	// ledger ranks attesters.
	cid := "bafkreifbinwz7tyumyb4h73ryoawyuskarzshby5vgov3okvtvafnj563e"
	target := billing.CIDHash(cid)
	dist := func(id string) []byte {
		h, _ := billing.PeerHash(id)
		for i := range h {
			h[i] ^= target[i]
		}
		return h[:]
	}
	got := byDistance(cid, ids)
	if len(got) != len(ids) || !slices.IsSortedFunc(got, func(a, b string) int { return bytes.Compare(dist(a), dist(b)) }) {
		t.Fatalf("byDistance %v is not the ledger's order", got)
	}
	cid = "bafkreicleypltf6d7qonaqtxmxhifrijw2ltnix4bbvw5gmn4u7vcthfni"
	if sha256.Sum256([]byte(cid)) != billing.CIDHash(cid) {
		t.Fatal("the node measures from another point than the ledger")
	}
}
