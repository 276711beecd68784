package attest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/internal/p2ptest"
	"github.com/ddsnet/dds/p2p/wire"
)

// signer signs the quotes its caller issued, and refuses the others.
type signer struct{ key []byte }

func (s signer) Attest(_ context.Context, from peer.ID, q billing.Quote) ([]byte, error) {
	if q.Issuer != from.String() {
		return nil, fmt.Errorf("%w: %s asks for %s's quote", ErrNotIssuer, from, q.Issuer)
	}
	return append([]byte("sig:"), q.FileID...), nil
}

// An attestation comes back; a refusal comes back as its code, and a
// request larger than MaxMessage is refused (not read whole: the caller
// may see the stream stall until its deadline).
func TestAsk(t *testing.T) {
	a, b := p2ptest.NewHost(t), p2ptest.NewHost(t)
	Register(b.Libp2p(), signer{})
	p2ptest.Connect(t, a, b)
	c := wire.NewClient(a.Libp2p())
	sig, err := Ask(t.Context(), c, b.ID(), billing.Quote{FileID: "f", Issuer: a.ID().String()})
	if err != nil || string(sig) != "sig:f" {
		t.Fatalf("attestation %q, %v", sig, err)
	}
	_, err = Ask(t.Context(), c, b.ID(), billing.Quote{FileID: "f", Issuer: b.ID().String()})
	if !errors.Is(err, ErrNotIssuer) || errors.Is(err, ErrBadQuote) {
		t.Fatalf("another's quote: %v", err)
	}
	big := make([]byte, MaxMessage)
	if sig, err := Ask(t.Context(), c, b.ID(), billing.Quote{FileID: string(big), Issuer: a.ID().String()}); err == nil {
		t.Fatalf("an oversized request was signed: %q", sig[:8])
	}
}
