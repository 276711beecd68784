package billing

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// The ledger's time never goes back: a command stamped before the latest
// time an applied command carried applies at that time, and one stamped
// more than MaxCommandAge before it is refused. So a payment backdated
// into a quote's lifetime, once the ledger's time passed the quote's
// expiry, finds it expired or is refused (a leader's own commands meet no
// clock but the ledger's), an old signed command replayed is refused, and
// a snapshot keeps the clock.
func TestLedgerTimeNeverGoesBack(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	q := f.upload("a", 1<<20, 86400)
	// Something else moves the ledger's time past the quote's expiry.
	f.now = q.ExpiresAt.Add(20 * time.Second)
	f.must(Command{Expire: &Expire{}})
	late := payCmd("a", "backdated", PaymentSuccess, q.Price)
	late.Time = q.ExpiresAt.Add(-10 * time.Second) // within the quote's life, 30 s back
	f.refused(late, ErrQuoteExpired)
	late.Time = q.CreatedAt.Add(time.Second) // long back
	f.refused(late, ErrInvalid)
	// A signed command replayed long after: refused, though valid then.
	reg := signed(Command{Time: f.now, Register: &Register{Node: Node{PeerID: peerName(1), PublicKey: testKey(1).Public().(ed25519.PublicKey), HTTP: "http://old"}}})
	f.must(reg)
	f.must(Command{Register: &Register{Node: Node{PeerID: peerName(1), PublicKey: testKey(1).Public().(ed25519.PublicKey), HTTP: "http://new"}}})
	f.advance(2 * MaxCommandAge)
	f.must(Command{Expire: &Expire{}})
	f.refused(reg, ErrInvalid) // would put the old address back
	if n, _ := f.s.Node(peerName(1)); n.HTTP != "http://new" {
		t.Fatalf("address %q after the replay", n.HTTP)
	}

	// A quote and a payment stamped a moment back apply at the ledger's
	// time: the payment's record says so.
	q = f.upload("b", 1<<20, 86400)
	pay := payCmd("b", "pb", PaymentSuccess, q.Price)
	pay.Time = f.now.Add(-3 * time.Second)
	res := f.must(pay)
	if !res.Payment.At.Equal(f.now) {
		t.Fatalf("payment at %v, the ledger's time is %v", res.Payment.At, f.now)
	}
	// Restored from a snapshot, a replica keeps the clock.
	r := restoredState(t, f.s)
	if r.Hash() != f.s.Hash() || !r.clock.Equal(f.s.clock) || r.clock.IsZero() {
		t.Fatalf("restored clock %v, want %v", r.clock, f.s.clock)
	}
}
