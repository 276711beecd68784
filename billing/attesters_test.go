package billing

import (
	"bytes"
	"crypto/ed25519"
	"slices"
	"testing"
)

// An issuer does not choose its attesters: they must be among the
// AttestWindow members closest to the quote's cid (itself left out). A
// quote attested by members outside the window is refused, changing
// nothing; one attested by stand-ins inside it is taken.
func TestAttestersChosenByTheCID(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	const members = 20
	for i := testPeers; i < members; i++ {
		f.must(Command{Admit: admitCmd(i)})
		f.must(Command{Register: &Register{Node: Node{PeerID: peerName(i), PublicKey: testKey(i).Public().(ed25519.PublicKey)}}})
	}
	q := f.newQuote("a", 1<<20, 86400)
	// The members other than the issuer (peer-0), closest to the cid first.
	target := CIDHash(q.CID)
	var order []int
	for i := 1; i < members; i++ {
		order = append(order, i)
	}
	dist := func(i int) [32]byte {
		h, _ := PeerHash(peerName(i))
		return xorDistance(h, target)
	}
	slices.SortFunc(order, func(a, b int) int { da, db := dist(a), dist(b); return bytes.Compare(da[:], db[:]) })
	window := AttestWindow(f.set)
	cmd := func(signers ...int) Command {
		return Command{Quote: &PutQuote{Quote: q, Attestations: f.attest(q, signers...)}}
	}
	last := order[len(order)-3:]
	f.refused(cmd(last...), ErrForbidden)
	f.refused(cmd(order[0], order[1], order[window]), ErrForbidden) // one just past the window
	// The closest three, or stand-ins up to the window's edge, are taken.
	f.must(cmd(order[0], order[window-2], order[window-1]))
}
