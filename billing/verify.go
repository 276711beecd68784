package billing

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Signatures are checked with curve25519-voi against public keys expanded
// once per key: twice as fast as crypto/ed25519 (3 checks: 102-109 us
// against 212-244 us on this project's 2-core VM), and every node checks
// the 3 attestations of every quote. The checks keep crypto/ed25519's
// semantics (voi.VerifyOptionsStdLib), so a signature is valid here
// exactly when ed25519.Verify says so.

// maxExpanded bounds the expanded keys kept; the registered nodes' keys
// are what the ledger checks, far fewer.
const maxExpanded = 4096

var (
	verifyOpts = &voi.Options{Verify: voi.VerifyOptionsStdLib}

	expandedMu sync.Mutex
	expanded   = map[string]*voi.ExpandedPublicKey{}
)

// verifySig reports whether sig is pub's signature of msg.
func verifySig(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	expandedMu.Lock()
	ek, ok := expanded[string(pub)]
	expandedMu.Unlock()
	if !ok {
		var err error
		if ek, err = voi.NewExpandedPublicKey(voi.PublicKey(pub)); err != nil {
			return false
		}
		expandedMu.Lock()
		if len(expanded) >= maxExpanded {
			clear(expanded)
		}
		expanded[string(pub)] = ek
		expandedMu.Unlock()
	}
	return voi.VerifyExpandedWithOptions(ek, msg, sig, verifyOpts)
}
