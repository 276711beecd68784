package billing

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Signatures are checked with curve25519-voi against public keys expanded
// once per key: twice as fast as crypto/ed25519 (3 checks: 102-109 us
// against 212-244 us on this project's 2-core VM), and every replica
// checks every command's signatures (a quote and its payment carry five:
// two proposers', three attesters'). The rules are ZIP-215's: the
// cofactored equation, canonical S, any encoding of A and R. They accept
// every signature crypto/ed25519 makes and every one it accepts, and,
// unlike crypto/ed25519's cofactorless rules, they give the same answer
// to a signature checked alone or in a batch verification, which the
// ledger uses (it checks each batch of committed commands together: in
// batches of 12, 18 us a signature against 30 alone). Every node of a
// network must check with the same rules: a signature made on purpose
// with a small-order component passes here and fails under crypto/ed25519.

// maxExpanded bounds the expanded keys kept; the registered nodes' keys
// are what the ledger checks, far fewer.
const maxExpanded = 4096

// Batch verification sizes: a part holds at most maxBatch signatures, and
// the signatures are split in two parts (one for a helper goroutine) when
// there are at least 2*minSplit.
const (
	maxBatch = 64
	minSplit = 6
)

var (
	verifyOpts = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

	expandedMu sync.Mutex
	expanded   = map[string]*voi.ExpandedPublicKey{}
)

// checkedSet holds signatures a node has seen valid itself. Every replica
// checks every signature a command carries as its ledger applies it; a
// node that has already seen one valid (the issuer, which checks the
// attestations as they come back; an attester, which made its own; a
// proposer, which signed its command) need not check it again there.
// Nothing another node says counts: each Ledger has its
// own (nodes in one process do not share what they checked). maxChecked
// bounds it: at a thousand quotes a second it covers the few seconds
// between a check and the ledger's, and clearing it only costs checks
// again. A signature is in the set only if it is valid, so the set
// changes how fast a ledger decides, never what.
type checkedSet struct {
	mu sync.Mutex
	m  map[[32]byte]struct{}
}

const maxChecked = 16384

// checkedKey names (pub, msg, sig) in a checkedSet and in State.verified:
// each part length-prefixed, so bytes moved from one part to another make
// another key.
func checkedKey(pub, msg, sig []byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, b := range [][]byte{pub, sig, msg} {
		h.Write(binary.AppendUvarint(n[:0], uint64(len(b))))
		h.Write(b)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *checkedSet) has(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	return ok
}

func (c *checkedSet) add(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxChecked {
		c.m = make(map[[32]byte]struct{})
	}
	c.m[k] = struct{}{}
}

// verify reports whether sig is pub's signature of msg, from the set when
// it holds it; a valid one is added.
func (c *checkedSet) verify(pub, msg, sig []byte) bool {
	k := checkedKey(pub, msg, sig)
	if c.has(k) {
		return true
	}
	if !verifySig(pub, msg, sig) {
		return false
	}
	c.add(k)
	return true
}

// VerifySignature reports whether sig is pub's ed25519 signature of msg
// (the ledger's rules, ZIP-215), and remembers a valid one so that this ledger
// does not check it again when it applies the command carrying it.
func (l *Ledger) VerifySignature(pub, msg, sig []byte) bool { return l.checked.verify(pub, msg, sig) }

// RememberSignature records sig as pub's valid signature of msg, for a
// signature this node has just made with its own key (pub).
func (l *Ledger) RememberSignature(pub, msg, sig []byte) { l.checked.add(checkedKey(pub, msg, sig)) }

// verifySig reports whether sig is pub's signature of msg.
func verifySig(pub, msg, sig []byte) bool {
	ek := expandedKey(pub)
	return ek != nil && voi.VerifyExpandedWithOptions(ek, msg, sig, verifyOpts)
}

// verifyBatch answers verifySig for each check (pub, msg, sig), with one
// batch verification when there are several: if the batch fails, voi
// checks each alone to tell which.
func verifyBatch(checks [][3][]byte) []bool {
	valid := make([]bool, len(checks))
	if len(checks) == 1 {
		valid[0] = verifySig(checks[0][0], checks[0][1], checks[0][2])
		return valid
	}
	v := voi.NewBatchVerifierWithCapacity(len(checks))
	var at []int
	for i, c := range checks {
		if ek := expandedKey(c[0]); ek != nil {
			v.AddExpandedWithOptions(ek, c[1], c[2], verifyOpts)
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return valid
	}
	_, ok := v.Verify(nil)
	for j, i := range at {
		valid[i] = ok[j]
	}
	return valid
}

// expandedKey returns pub expanded for verification, nil when pub is not
// a public key.
func expandedKey(pub []byte) *voi.ExpandedPublicKey {
	if len(pub) != ed25519.PublicKeySize {
		return nil
	}
	expandedMu.Lock()
	ek, ok := expanded[string(pub)]
	expandedMu.Unlock()
	if ok {
		return ek
	}
	ek, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return nil
	}
	expandedMu.Lock()
	if len(expanded) >= maxExpanded {
		clear(expanded)
	}
	expanded[string(pub)] = ek
	expandedMu.Unlock()
	return ek
}
