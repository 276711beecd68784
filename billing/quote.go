package billing

import (
	"crypto/ed25519"
	"encoding/binary"
	"math"
	"time"
)

// QuoteKind tells a quote for a new file from one that extends a paid term.
type QuoteKind string

// The kinds of quote.
const (
	QuoteNew       QuoteKind = "new"
	QuoteExtension QuoteKind = "extension"
)

// Quote is a price offer for storing a file, issued by the node that took the
// upload and attested by Settings.Threshold other registered nodes.
type Quote struct {
	FileID       string    `json:"file_id"`
	Kind         QuoteKind `json:"kind"`
	Issuer       string    `json:"issuer"` // peer id of the node that took the upload
	CID          string    `json:"cid"`
	Size         int64     `json:"size"`
	Name         string    `json:"name"`
	Duration     int64     `json:"duration"`                // new: the term (s); extension: the new total term (s)
	PrevDuration int64     `json:"prev_duration,omitempty"` // extension only: the term being extended (s)
	Replicas     int       `json:"replicas"`
	Price        int64     `json:"price"` // new: Price(size, duration); extension: Price(size, newTerm-oldTerm)
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"` // CreatedAt + QuoteLifetime
}

// Domain-separation prefixes of the signed encodings.
const (
	quoteDomain   = "dds-quote-v1"
	receiptDomain = "dds-receipt-v1"
)

// canonical builds a fixed-order, length-prefixed encoding.
type canonical []byte

func (c canonical) str(s string) canonical {
	c = binary.BigEndian.AppendUint64(c, uint64(len(s)))
	return append(c, s...)
}

func (c canonical) i64(v int64) canonical {
	return binary.BigEndian.AppendUint64(c, uint64(v))
}

// Canonical returns the deterministic bytes that attesters sign: the prefix
// "dds-quote-v1" followed by every field in declaration order, strings as an
// 8-byte big-endian length and the bytes, integers as 8-byte big-endian
// two's complement, times as Unix nanoseconds.
func (q Quote) Canonical() []byte {
	c := make(canonical, 0, 160+len(q.FileID)+len(q.Issuer)+len(q.CID)+len(q.Name))
	c = append(c, quoteDomain...)
	c = c.str(q.FileID).str(string(q.Kind)).str(q.Issuer).str(q.CID).
		i64(q.Size).str(q.Name).i64(q.Duration).i64(q.PrevDuration).
		i64(int64(q.Replicas)).i64(q.Price).
		i64(q.CreatedAt.UnixNano()).i64(q.ExpiresAt.UnixNano())
	return c
}

// Check recomputes q's price and expiry from s and checks every field that
// does not depend on the ledger's state: what an attester runs before it
// signs, and what the state machine runs before it accepts. Every problem is
// an ErrInvalid refusal.
func (q Quote) Check(s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	switch {
	case q.Kind != QuoteNew && q.Kind != QuoteExtension:
		return refusal(ErrInvalid, "unknown quote kind %q", q.Kind)
	case q.FileID == "" || len(q.FileID) > MaxIDLen:
		return refusal(ErrInvalid, "file id must be 1 to %d bytes", MaxIDLen)
	case q.Issuer == "" || len(q.Issuer) > MaxIDLen:
		return refusal(ErrInvalid, "issuer must be 1 to %d bytes", MaxIDLen)
	case q.CID == "" || len(q.CID) > MaxIDLen:
		return refusal(ErrInvalid, "cid must be 1 to %d bytes", MaxIDLen)
	case len(q.Name) < 1 || len(q.Name) > 255:
		return refusal(ErrInvalid, "name must be 1 to 255 bytes")
	case q.Size < 0:
		return refusal(ErrInvalid, "size must not be negative")
	case q.Duration < 1 || q.Duration > s.MaxTerm:
		return refusal(ErrInvalid, "duration must be between 1 and %d seconds", s.MaxTerm)
	case q.Replicas != s.Replicas:
		return refusal(ErrInvalid, "replicas must be %d", s.Replicas)
	case !validTime(q.CreatedAt):
		return refusal(ErrInvalid, "quote creation time out of range")
	}
	term := q.Duration
	if q.Kind == QuoteExtension {
		if q.PrevDuration < 1 || q.PrevDuration >= q.Duration {
			return refusal(ErrInvalid, "extension must lengthen a term of at least 1 second")
		}
		term = q.Duration - q.PrevDuration
	} else if q.PrevDuration != 0 {
		return refusal(ErrInvalid, "a new quote has no previous duration")
	}
	want := Price(s, q.Size, term, q.Replicas)
	if want == math.MaxInt64 {
		return refusal(ErrInvalid, "price out of range")
	}
	if q.Price != want {
		return refusal(ErrInvalid, "price mismatch: quoted %d, computed %d", q.Price, want)
	}
	exp := q.CreatedAt.Add(time.Duration(s.QuoteLifetime) * time.Second)
	if !q.ExpiresAt.Equal(exp) {
		return refusal(ErrInvalid, "quote expiry mismatch: expected %s", exp.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// Attestation is a registered node's ed25519 signature over a quote's
// Canonical bytes.
type Attestation struct {
	Signer    string `json:"signer"`    // peer id of a registered node
	Signature []byte `json:"signature"` // ed25519 over q.Canonical()
}

// Attest signs q with key on behalf of signer.
func Attest(q Quote, signer string, key ed25519.PrivateKey) Attestation {
	return Attestation{Signer: signer, Signature: ed25519.Sign(key, q.Canonical())}
}

// Node is an entry of the node registry: the key that verifies a peer's
// attestations and receipts.
type Node struct {
	PeerID    string    `json:"peer_id"`
	PublicKey []byte    `json:"public_key"` // raw 32-byte ed25519
	HTTP      string    `json:"http,omitempty"`
	Joined    time.Time `json:"joined"`
}

// Receipt is a holder's signed statement that it stores a file.
type Receipt struct {
	FileID    string `json:"file_id"`
	CID       string `json:"cid"`
	Size      int64  `json:"size"`
	Holder    string `json:"holder"`
	Signature []byte `json:"signature"`
}

// Canonical returns the bytes a holder signs: the prefix "dds-receipt-v1"
// followed by FileID, CID, Size and Holder, encoded like Quote.Canonical.
func (r Receipt) Canonical() []byte {
	c := make(canonical, 0, 64+len(r.FileID)+len(r.CID)+len(r.Holder))
	c = append(c, receiptDomain...)
	return c.str(r.FileID).str(r.CID).i64(r.Size).str(r.Holder)
}

// Sign returns r with its Signature made by key.
func (r Receipt) Sign(key ed25519.PrivateKey) Receipt {
	r.Signature = ed25519.Sign(key, r.Canonical())
	return r
}
