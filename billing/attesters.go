package billing

import (
	"bytes"
	"crypto/sha256"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Who attests a quote is not the issuer's choice: its attesters must be
// among the AttestWindow registered members, the issuer left out, whose
// ids are XOR-closest to the quote's content (the sha256 of the peer id's
// bytes against the sha256 of the cid, as kad-dht measures closeness).
// The issuer asks the closest first and the next ones stand in for those
// that are down or slow; every replica checks the rank of each attester.
// The cid is the content's, which an issuer cannot choose without storing
// other content: it cannot grind its way to attesters of its choosing.

// AttestWindow is how many members, the closest to a quote's cid, may
// attest it: Threshold sign, the others stand in for those that fail.
func AttestWindow(s Settings) int { return 3 * s.Threshold }

// peerHashes caches PeerHash (cleared at maxExpanded ids): every quote
// measures every registered member.
var (
	peerHashesMu sync.Mutex
	peerHashes   = map[string][32]byte{}
)

// PeerHash returns the point of peer id in the attesters' XOR space: the
// sha256 of the peer id's bytes; false if id is not a peer id.
func PeerHash(id string) ([32]byte, bool) {
	peerHashesMu.Lock()
	h, ok := peerHashes[id]
	peerHashesMu.Unlock()
	if ok {
		return h, true
	}
	pid, err := peer.Decode(id)
	if err != nil {
		return [32]byte{}, false
	}
	h = sha256.Sum256([]byte(pid))
	peerHashesMu.Lock()
	if len(peerHashes) >= maxExpanded {
		clear(peerHashes)
	}
	peerHashes[id] = h
	peerHashesMu.Unlock()
	return h, true
}

// CIDHash is the point of a cid in the attesters' XOR space.
func CIDHash(cid string) [32]byte { return sha256.Sum256([]byte(cid)) }

// xorDistance is the XOR of a and b.
func xorDistance(a, b [32]byte) [32]byte {
	for i := range a {
		a[i] ^= b[i]
	}
	return a
}

// outsideWindow returns the first of signers that is not among the
// AttestWindow registered members, issuer left out, closest to cid; ""
// when all are.
func (s *State) outsideWindow(cid, issuer string, signers []string) string {
	target := CIDHash(cid)
	window := AttestWindow(s.settings)
	dists := make([][32]byte, 0, len(s.nodes))
	for id := range s.nodes {
		if id == issuer {
			continue
		}
		if h, ok := PeerHash(id); ok {
			dists = append(dists, xorDistance(h, target))
		}
	}
	for _, a := range signers {
		h, ok := PeerHash(a)
		if !ok {
			return a
		}
		d := xorDistance(h, target)
		closer := 0
		for _, o := range dists {
			if bytes.Compare(o[:], d[:]) < 0 {
				closer++
			}
		}
		if closer >= window {
			return a
		}
	}
	return ""
}
