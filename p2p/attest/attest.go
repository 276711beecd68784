// Package attest is the quote attestation protocol: an issuer asks the
// members the ledger names (billing.AttestWindow) to check its quote
// against their own replica of the price table and sign it
// (billing.Attest's bytes, Quote.Canonical).
//
// The shape is go-libp2p's ping: a protocol ID, [Register] for the
// handler (the checks are the [Attester]'s), and a client call ([Ask]);
// refusals are typed ([ErrNotIssuer], [ErrUnknownIssuer], [ErrBadQuote],
// [ErrNotCurrent], [ErrNotReady]) and match with errors.Is on the caller's
// side.
package attest

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/p2p/wire"
)

// Protocol is the attestation protocol: a request of {"quote": ...},
// answered with {"signature": ...}.
const Protocol protocol.ID = "/dds/quote/attest/1.0.0"

// The attester's refusals.
const (
	// ErrNotIssuer: the caller asks for a quote another member issued.
	ErrNotIssuer wire.Code = "the caller is not the quote's issuer"
	// ErrUnknownIssuer: the issuer is not a registered member here, or
	// is the attester itself.
	ErrUnknownIssuer wire.Code = "issuer not registered here"
	// ErrBadQuote: the quote's price, term or fields do not hold against
	// the attester's settings.
	ErrBadQuote wire.Code = "quote does not hold"
	// ErrNotCurrent: the quote's time is not the attester's (made ahead
	// of its clock, or expired).
	ErrNotCurrent wire.Code = "quote not current"
	// ErrNotReady: the attester's ledger is not initialised yet.
	ErrNotReady wire.Code = "attester not ready"
)

// Timeout bounds one attestation call; MaxMessage a request or answer.
const (
	Timeout    = 3 * time.Second
	MaxMessage = 256 << 10
)

// Attester checks a quote and signs it, or refuses with one of the
// errors above (wrapped with detail).
type Attester interface {
	Attest(ctx context.Context, from peer.ID, q billing.Quote) ([]byte, error)
}

// Request is an attestation request.
type Request struct {
	Quote billing.Quote `json:"quote"`
}

// Response is an attestation: the attester's signature of the quote.
type Response struct {
	Signature []byte `json:"signature"`
}

// Register serves the protocol on h with a.
func Register(h host.Host, a Attester, opts ...wire.HandlerOption) {
	wire.Handle(h, Protocol, Timeout, MaxMessage, func(ctx context.Context, from peer.ID, req Request) (Response, error) {
		sig, err := a.Attest(ctx, from, req.Quote)
		if err != nil {
			return Response{}, err
		}
		return Response{Signature: sig}, nil
	}, opts...)
}

// Ask asks member p to attest q over c's kept streams, and returns its
// signature (the caller checks it against p's registered key).
func Ask(ctx context.Context, c *wire.Client, p peer.ID, q billing.Quote) ([]byte, error) {
	var resp Response
	if err := c.Call(ctx, p, Protocol, Timeout, Request{Quote: q}, &resp, MaxMessage); err != nil {
		return nil, fmt.Errorf("attest at %s: %w", p, err)
	}
	return resp.Signature, nil
}
