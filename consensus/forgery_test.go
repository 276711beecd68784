package consensus

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/ddsnet/dds/billing"
)

// A leader appends what it likes to the log, but it cannot make the
// others apply a forged command: every replica of the billing ledger
// checks each command's signature itself, so a command appended by the
// leader with a signature its proposer did not make (another key's, one
// made for another command, none) is refused alike on every member, and
// no replica's state moves. This is the leader's own Apply path, which
// runs none of the checks a forwarded command meets: what a leader whose
// operator changed its code could append.
func TestLeaderCannotForgeCommands(t *testing.T) {
	ms := make([]*member, 3)
	ledgers := make([]*billing.Ledger, len(ms))
	for i := range ms {
		ms[i] = newMember(t, nil)
		ledgers[i] = billing.NewLedger()
		ms[i].machine = ledgers[i]
	}
	startGroup(ms)
	leader := leaderOf(t, ms...)

	key := func() (string, ed25519.PrivateKey) {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := billing.PeerID(pub)
		if err != nil {
			t.Fatal(err)
		}
		return id, priv
	}
	founder, founderKey := key()
	member, memberKey := key()
	_, admission := key()
	now := time.Now().UTC()
	// appendRaw has the leader append b as it is and returns the result.
	appendRaw := func(b []byte) error {
		t.Helper()
		out, err := leader.l().Apply(t.Context(), b)
		if err != nil {
			t.Fatal(err)
		}
		res, err := billing.DecodeResult(out)
		if err != nil {
			t.Fatal(err)
		}
		return res.Refusal()
	}
	sign := func(c billing.Command, by string, key ed25519.PrivateKey) billing.Command {
		t.Helper()
		c.Time = now
		s, err := c.Sign(by, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	enc := func(c billing.Command) []byte {
		t.Helper()
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []billing.Command{
		sign(billing.Command{Init: &billing.Init{Settings: billing.DefaultSettings(), AdmissionKey: admission.Public().(ed25519.PublicKey), Founder: founder}}, founder, founderKey),
		sign(billing.Command{Register: &billing.Register{Node: billing.Node{PeerID: founder, PublicKey: founderKey.Public().(ed25519.PublicKey)}}}, founder, founderKey),
		sign(billing.Command{Admit: &billing.Admit{Invite: billing.SignInvite(admission, member, now.Add(time.Hour))}}, founder, founderKey),
		sign(billing.Command{Register: &billing.Register{Node: billing.Node{PeerID: member, PublicKey: memberKey.Public().(ed25519.PublicKey)}}}, member, memberKey),
	} {
		if err := appendRaw(enc(c)); err != nil {
			t.Fatalf("%s: %v", c.Kind(), err)
		}
	}
	hashes := func() ([][32]byte, uint64) {
		waitFor(t, 10*time.Second, "every replica applies the leader's entries", func() bool {
			for _, l := range ledgers[1:] {
				if l.Index() != ledgers[0].Index() {
					return false
				}
			}
			return true
		})
		out := make([][32]byte, len(ledgers))
		for i, l := range ledgers {
			l.Read(func(s *billing.State) { out[i] = s.Hash() })
		}
		return out, ledgers[0].Index()
	}
	before, index := hashes()

	erase := billing.Command{Expire: &billing.Expire{}}
	erase.Time = now.AddDate(100, 0, 0)
	pay := billing.Command{Pay: &billing.Pay{PaymentID: "p", FileID: "f", Status: billing.PaymentSuccess, Amount: 1, ReceivedBy: founder}}
	otherSig := sign(erase, founder, founderKey).Sig
	forged := map[string][]byte{
		"signed with another member's key": enc(sign(erase, founder, memberKey)),
		"a signature made for another command": enc(func() billing.Command {
			c := sign(pay, founder, founderKey)
			c.Sig = otherSig
			return c
		}()),
		"no signature":                        enc(billing.Command{Time: now, By: founder, Pay: pay.Pay}),
		"an outsider's":                       enc(sign(erase, "12D3KooWGgnpjMNxFFyVKvvwQy8eZr98NaTi7T3A752VDMAHxen2", memberKey)),
		"a member registering another":        enc(sign(billing.Command{Register: &billing.Register{Node: billing.Node{PeerID: member, PublicKey: founderKey.Public().(ed25519.PublicKey)}}}, founder, founderKey)),
		"a payment taken by another":          enc(sign(pay, member, memberKey)),
		"a removal signed by no one":          enc(sign(billing.Command{Remove: &billing.Remove{Removal: billing.SignRemoval(founderKey, member, now)}}, founder, founderKey)),
		"an invite of a key not the ledger's": enc(sign(billing.Command{Admit: &billing.Admit{Invite: billing.SignInvite(memberKey, "12D3KooWPTmYj3mQWQFHEmbj1gKa892kyFapRJtVaE2q37PEHt5P", now.Add(time.Hour))}}, member, memberKey)),
	}
	for name, b := range forged {
		if err := appendRaw(b); !errors.Is(err, billing.ErrForbidden) {
			t.Errorf("%s: the leader's replica answered %v", name, err)
		}
	}
	after, last := hashes()
	if last <= index {
		t.Fatalf("the forged commands were not appended (index %d, before %d)", last, index)
	}
	for i := range after {
		if after[i] != before[0] || before[i] != before[0] {
			t.Fatalf("replica %d: the state moved or differs from the others", i)
		}
	}
}
