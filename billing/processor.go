package billing

import (
	"crypto/ed25519"
	"time"
)

// A network may be made with a payment processor's public key
// (Init.ProcessorKey). Then no member can mint a payment: a Pay counts
// only with the processor's signature over a PaymentAuthorization of it,
// checked on every replica. The authorization names the quote it pays by
// the file, the quote's expiry and the lease's end (zero before the first
// payment), so it pays that quote once and no other: an extension quote
// of the same file comes after a payment that set or moved the lease's
// end.

// paymentDomain opens a PaymentAuthorization's signed bytes.
const paymentDomain = "dds-payment-v1"

// PaymentAuthorization is what the payment processor signs for a payment:
// the file, the status and amount (nanotokens) it reports, the expiry of
// the quote it pays and the end of the file's lease before it (the file
// resource's quote_expires_at and expires_at; zero when it has none).
type PaymentAuthorization struct {
	FileID         string
	Status         string
	Amount         int64
	QuoteExpiresAt time.Time
	LeaseExpiresAt time.Time
}

// Canonical returns the bytes the processor signs: the prefix
// "dds-payment-v1" followed by FileID, Status, Amount, QuoteExpiresAt and
// LeaseExpiresAt (whole Unix seconds, as the API shows times; 0 for a zero
// time), encoded like Quote.Canonical.
func (a PaymentAuthorization) Canonical() []byte {
	c := make(canonical, 0, 56+len(paymentDomain)+len(a.FileID)+len(a.Status))
	c = append(c, paymentDomain...)
	return c.str(a.FileID).str(a.Status).i64(a.Amount).i64(unixSeconds(a.QuoteExpiresAt)).i64(unixSeconds(a.LeaseExpiresAt))
}

// unixSeconds is t in whole Unix seconds (rounded down), 0 for the zero
// time.
func unixSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Truncate(time.Second).Unix()
}

// Sign returns the processor's signature of a, made with key.
func (a PaymentAuthorization) Sign(key ed25519.PrivateKey) []byte {
	return ed25519.Sign(key, a.Canonical())
}

// ProcessorKey returns the payment processor's public key, nil when the
// network has none (then a member's signed Pay suffices).
func (s *State) ProcessorKey() []byte {
	if s.processorKey == nil {
		return nil
	}
	return append([]byte(nil), s.processorKey...)
}

// processorCheck returns the signature check p needs, (nil, nil, nil) when
// none: the network has no processor key, or p pays no open quote.
func (s *State) processorCheck(p *Pay) (pub, msg, sig []byte) {
	if s.processorKey == nil {
		return nil, nil, nil
	}
	rec, ok := s.record(p.FileID)
	if !ok || rec.File.Quote == nil {
		return nil, nil, nil
	}
	a := PaymentAuthorization{FileID: p.FileID, Status: p.Status, Amount: p.Amount,
		QuoteExpiresAt: rec.File.Quote.ExpiresAt, LeaseExpiresAt: rec.File.ExpiresAt}
	return s.processorKey, a.Canonical(), p.ProcessorSig
}
