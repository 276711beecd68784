package billing

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerKeys caches PeerKey's answers: a replica derives the founder's and
// each registering node's key from its peer id, and the same few ids come
// back (a node registers again with each new address). Cleared when it
// reaches maxExpanded ids.
var (
	peerKeysMu sync.Mutex
	peerKeys   = map[string][]byte{}
)

// PeerKey returns the raw ed25519 public key that peer id carries (a
// libp2p peer id of an ed25519 key holds the key itself). The ledger binds
// a member's id to its key with it: a node registers only the key of its
// own id, and signs its registration with it, so no one else can put a key
// of theirs under a member's name.
func PeerKey(id string) ([]byte, error) {
	peerKeysMu.Lock()
	k, ok := peerKeys[id]
	peerKeysMu.Unlock()
	if ok {
		return k, nil
	}
	pid, err := peer.Decode(id)
	if err != nil {
		return nil, fmt.Errorf("peer id %q: %w", id, err)
	}
	pub, err := pid.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("public key of %s: %w", id, err)
	}
	if pub.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("public key of %s: not an ed25519 key", id)
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, fmt.Errorf("public key of %s: %w", id, err)
	}
	peerKeysMu.Lock()
	if len(peerKeys) >= maxExpanded {
		clear(peerKeys)
	}
	peerKeys[id] = raw
	peerKeysMu.Unlock()
	return raw, nil
}

// PeerID returns the peer id of a raw ed25519 public key (the inverse of
// PeerKey).
func PeerID(pub []byte) (string, error) {
	k, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("peer id of key: %w", err)
	}
	id, err := peer.IDFromPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("peer id of key: %w", err)
	}
	return id.String(), nil
}

// keyOfID reports whether pub is the key peer id carries.
func keyOfID(id string, pub []byte) bool {
	k, err := PeerKey(id)
	return err == nil && bytes.Equal(k, pub)
}
