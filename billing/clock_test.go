package billing

import (
	"bytes"
	"testing"
	"time"
)

// The ledger's time never goes back: a command stamped before the latest
// time an applied command carried applies at that time. So a payment
// backdated into a quote's lifetime, once the ledger's time passed the
// quote's expiry, finds it expired (a leader's own commands meet no clock
// but the ledger's), and a snapshot keeps the clock.
func TestLedgerTimeNeverGoesBack(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	q := f.upload("a", 1<<20, 86400)
	// Something else moves the ledger's time past the quote's expiry.
	f.now = q.ExpiresAt.Add(time.Minute)
	f.must(Command{Expire: &Expire{}})
	late := payCmd("a", "backdated", PaymentSuccess, q.Price)
	late.Time = q.CreatedAt.Add(time.Second)
	f.refused(late, ErrQuoteExpired)

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
	var buf bytes.Buffer
	if err := f.s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r.Hash() != f.s.Hash() || !r.clock.Equal(f.s.clock) || r.clock.IsZero() {
		t.Fatalf("restored clock %v, want %v", r.clock, f.s.clock)
	}
}
