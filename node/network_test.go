package node

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
)

// TestForwardedCommandChecks: a forwarded Register is the sender's own,
// with the key its peer id carries, so is a forwarded payment (received by
// the sender), and a forwarded command's time is the leader's within
// clockSkew.
func TestForwardedCommandChecks(t *testing.T) {
	newPeer := func() (peer.ID, []byte) {
		_, pub, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := pub.Raw()
		return id, raw
	}
	a, aKey := newPeer()
	b, bKey := newPeer()
	reg := func(id string, key []byte) []byte {
		cmd, err := billing.Command{Time: time.Unix(1, 0), Register: &billing.Register{Node: billing.Node{PeerID: id, PublicKey: key}}}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	now := time.Unix(1, 0)
	if err := checkForwarded(a, reg(a.String(), aKey), now); err != nil {
		t.Fatalf("a registering itself: %v", err)
	}
	for name, cmd := range map[string][]byte{
		"another's id":          reg(b.String(), bKey),
		"own id, another's key": reg(a.String(), bKey),
		"own id, a made-up key": reg(a.String(), make([]byte, ed25519.PublicKeySize)),
		"not a command":         []byte("{"),
	} {
		if err := checkForwarded(a, cmd, now); err == nil {
			t.Errorf("%s: forwarded register accepted", name)
		}
	}
	payBy := func(by string) []byte {
		b, _ := billing.Command{Time: time.Unix(1, 0), Pay: &billing.Pay{PaymentID: "p", FileID: "f", Status: "success", Amount: 1, ReceivedBy: by}}.Encode()
		return b
	}
	pay := payBy(a.String())
	// A node forwards the payments it took, and no other's.
	for _, by := range []string{b.String(), ""} {
		if err := checkForwarded(a, payBy(by), now); !errors.Is(err, ErrForbidden) {
			t.Errorf("a payment forwarded by %s as received by %q: %v", a, by, err)
		}
	}
	if err := checkForwarded(a, pay, now); err != nil {
		t.Fatalf("a payment forwarded by a node: %v", err)
	}
	// Stamped ahead of the leader's clock by more than clockSkew, or behind
	// it by more than twice that (pay is stamped at now: the leader's
	// clock is moved instead).
	for _, leader := range []time.Duration{-clockSkew - time.Millisecond, 2*clockSkew + time.Millisecond, -100 * 365 * 24 * time.Hour} {
		if err := checkForwarded(a, pay, now.Add(leader)); !errors.Is(err, ErrForbidden) {
			t.Errorf("the leader's clock at %v from the command's: %v", leader, err)
		}
	}
	for _, leader := range []time.Duration{-clockSkew, 2 * clockSkew} {
		if err := checkForwarded(a, pay, now.Add(leader)); err != nil {
			t.Errorf("the leader's clock at %v from the command's, within the bounds: %v", leader, err)
		}
	}
}
