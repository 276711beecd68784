package billing

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"
)

// In a network made with a payment processor key, no member can mint a
// payment or cancel a quote: a Pay counts only with the processor's
// signature of exactly that payment of exactly that quote.
func TestPaymentsNeedTheProcessor(t *testing.T) {
	processor := testKey(500)
	f := newFixture(t, DefaultSettings(), func(i *Init) { i.ProcessorKey = processor.Public().(ed25519.PublicKey) })
	if !bytes.Equal(f.s.ProcessorKey(), processor.Public().(ed25519.PublicKey)) {
		t.Fatal("the processor key is not the ledger's")
	}
	q := f.upload("a", 1<<20, 86400)
	var lease time.Time // the lease's end before the payment
	auth := func(status string, amount int64, quoteExpires time.Time) PaymentAuthorization {
		return PaymentAuthorization{FileID: "a", Status: status, Amount: amount, QuoteExpiresAt: quoteExpires, LeaseExpiresAt: lease}
	}
	n := 0
	pay := func(status string, amount int64, sig []byte) Command {
		n++
		c := payCmd("a", fmt.Sprint("pay-", n), status, amount)
		c.Pay.ProcessorSig = sig
		return c
	}
	good := auth(PaymentSuccess, q.Price, q.ExpiresAt)
	for name, c := range map[string]Command{
		"unsigned":                      pay(PaymentSuccess, q.Price, nil),
		"unsigned cancel":               pay(PaymentError, 0, nil),
		"signed by another key":         pay(PaymentSuccess, q.Price, good.Sign(testKey(501))),
		"signed for another amount":     pay(PaymentSuccess, q.Price+1, good.Sign(processor)),
		"signed as a cancel":            pay(PaymentSuccess, q.Price, auth(PaymentError, q.Price, q.ExpiresAt).Sign(processor)),
		"signed for another quote":      pay(PaymentSuccess, q.Price, auth(PaymentSuccess, q.Price, q.ExpiresAt.Add(time.Second)).Sign(processor)),
		"signed for another lease":      pay(PaymentSuccess, q.Price, PaymentAuthorization{FileID: "a", Status: PaymentSuccess, Amount: q.Price, QuoteExpiresAt: q.ExpiresAt, LeaseExpiresAt: q.ExpiresAt}.Sign(processor)),
		"a signature of something else": pay(PaymentSuccess, q.Price, f.attest(q, 0)[0].Signature),
	} {
		t.Run(name, func(t *testing.T) { f.refused(c, ErrForbidden) })
	}
	f.must(pay(PaymentSuccess, q.Price, good.Sign(processor)))
	if st := f.file("a").State; st != StateStoring {
		t.Fatalf("paid file is %s", st)
	}
	// The same authorization does not pay the next quote of the file.
	f.must(f.holdCmd("a", 0, 1, 2))
	ext := f.extQuote("a", 2*86400)
	f.must(f.putQuote(ext))
	if ext.Price != q.Price || !ext.ExpiresAt.Equal(q.ExpiresAt) {
		t.Fatal("the extension quote should look like the first to the processor but for the lease")
	}
	f.refused(pay(PaymentSuccess, ext.Price, good.Sign(processor)), ErrForbidden)
	lease = f.file("a").ExpiresAt
	f.must(pay(PaymentSuccess, ext.Price, auth(PaymentSuccess, ext.Price, ext.ExpiresAt).Sign(processor)))
}
