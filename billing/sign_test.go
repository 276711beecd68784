package billing

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"
)

// Every command is refused, changing nothing, unless its proposer signed
// it with its own key and may propose it: unsigned, signed by another
// key, altered after signing, a signature made for something else,
// proposed by an outsider or a removed member, a registration of another
// node or of a key not its id's, an Init not by the founder, a quote not
// by its issuer, a payment not by the member that took it.
func TestCommandsSignedByTheirProposer(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	p0, p1 := peerName(0), peerName(1)
	q := f.newQuote("a", 1<<20, 86400)
	quote := f.putQuote(q)
	sign := func(c Command, by string, key ed25519.PrivateKey) Command {
		t.Helper()
		c.Time = f.now
		s, err := c.Sign(by, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	decode := func(b []byte) Command {
		t.Helper()
		c, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Unsigned: no proposer, or a proposer and no signature.
	before := f.s.Hash()
	if r := f.s.Apply(Command{Time: f.now, Expire: &Expire{}}); r.Err == nil || r.Err.Code != ErrForbidden.Code || f.s.Hash() != before {
		t.Fatalf("a command with no proposer: %v", r.Err)
	}
	f.refused(Command{Time: f.now, By: p0, Quote: quote.Quote}, ErrForbidden)
	// Signed by another member's key, in its issuer's name.
	f.refused(sign(quote, p0, testKey(1)), ErrForbidden)
	// Proposed by a member that is not its issuer, with its own key.
	f.refused(sign(quote, p1, testKey(1)), ErrForbidden)
	// Altered after signing: the price changed in the signed bytes.
	good := sign(quote, p0, testKey(0))
	b, err := good.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Command map[string]json.RawMessage `json:"command"`
		Sig     []byte                     `json:"sig"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	env.Command["time"] = json.RawMessage(`"2030-01-01T00:00:00Z"`)
	altered, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	f.refused(decode(altered), ErrForbidden)
	// A signature the proposer made for something else: its attestation
	// of the same quote, or another command's.
	other := good
	other.Sig = f.attest(q, 0)[0].Signature
	f.refused(decode(mustEncode(t, other)), ErrForbidden)
	expire := sign(Command{Expire: &Expire{}}, p0, testKey(0))
	other.Sig = expire.Sig
	f.refused(decode(mustEncode(t, other)), ErrForbidden)

	// An outsider (never admitted), with its own key.
	outsider := peerName(40)
	f.refused(sign(Command{Expire: &Expire{}}, outsider, testKey(40)), ErrForbidden)
	// A payment proposed by a member other than the one that took it.
	pay := payCmd("a", "pay-a", PaymentSuccess, q.Price)
	f.refused(sign(pay, p1, testKey(1)), ErrForbidden)
	// A node registering another, or a key not its id's.
	f.refused(sign(Command{Register: &Register{Node: Node{PeerID: p1, PublicKey: testKey(0).Public().(ed25519.PublicKey)}}}, p0, testKey(0)), ErrForbidden)
	f.refused(sign(Command{Register: &Register{Node: Node{PeerID: p1, PublicKey: testKey(40).Public().(ed25519.PublicKey)}}}, p1, testKey(40)), ErrForbidden)
	// An Init not proposed by its founder (on a fresh ledger).
	fresh := NewState()
	init := Command{Time: f.now, Init: initCmd(DefaultSettings())}
	if r := fresh.Apply(sign(init, p1, testKey(1))); r.Err == nil || r.Err.Code != ErrForbidden.Code {
		t.Fatalf("an init by another than its founder: %v", r.Err)
	}
	if r := fresh.Apply(sign(init, p0, testKey(0))); r.Err != nil {
		t.Fatalf("the founder's init: %v", r.Err)
	}

	// The genuine commands pass; then a removed member's are refused.
	f.must(good)
	f.must(sign(pay, p0, testKey(0)))
	f.advance(time.Second)
	f.must(Command{Remove: &Remove{Removal: SignRemoval(testAdmission(), p1, f.now)}})
	f.refused(sign(Command{Expire: &Expire{}}, p1, testKey(1)), ErrForbidden)
}

func mustEncode(t *testing.T, c Command) []byte {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
