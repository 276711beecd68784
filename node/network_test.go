package node

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
)

func TestForwardedRegisterIsTheSendersOwn(t *testing.T) {
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
	if err := checkForwarded(a, reg(a.String(), aKey)); err != nil {
		t.Fatalf("a registering itself: %v", err)
	}
	for name, cmd := range map[string][]byte{
		"another's id":          reg(b.String(), bKey),
		"own id, another's key": reg(a.String(), bKey),
		"own id, a made-up key": reg(a.String(), make([]byte, ed25519.PublicKeySize)),
		"not a command":         []byte("{"),
	} {
		if err := checkForwarded(a, cmd); err == nil {
			t.Errorf("%s: forwarded register accepted", name)
		}
	}
	pay, _ := billing.Command{Time: time.Unix(1, 0), Pay: &billing.Pay{PaymentID: "p", FileID: "f", Status: "success", Amount: 1}}.Encode()
	if err := checkForwarded(a, pay); err != nil {
		t.Fatalf("a payment forwarded by a node: %v", err)
	}
}
