package p2p

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// KeyFile is the name of the identity key file inside the data directory.
const KeyFile = "identity.key"

// LoadOrCreateKey returns the node's persistent ed25519 identity from
// dir/"identity.key" (libp2p [crypto.MarshalPrivateKey] bytes, mode 0600),
// creating it on first use. The file is written atomically (temp file, fsync,
// rename, fsync of the directory), so a crash never leaves a half-written key.
// A key file that does not decode, or holds a key other than ed25519, is an
// error wrapping [ErrInvalidKey] or [ErrNotEd25519]: the node refuses to start
// rather than silently change its identity.
func LoadOrCreateKey(dir string) (crypto.PrivKey, error) {
	return LoadOrCreateKeyFile(filepath.Join(dir, KeyFile))
}

// LoadOrCreateKeyFile returns the ed25519 key kept at path, creating it
// (mode 0600, written atomically) when there is none: the identity key,
// and the admission key of a network (see [AdmissionKeyFile]).
func LoadOrCreateKeyFile(path string) (crypto.PrivKey, error) {
	key, err := LoadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, _, err = crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	data, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("write key %s: %w", path, err)
	}
	return key, nil
}

// LoadKeyFile reads the ed25519 key kept at path; an error wrapping
// fs.ErrNotExist when there is none.
func LoadKeyFile(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	key, err := decodeKey(data)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	return key, nil
}

// AdmissionKeyFile is the name of a network's admission key file: in the
// first node's data dir, and in a `dds testnet` directory.
const AdmissionKeyFile = "admission.key"

// RawKey returns key as a crypto/ed25519 private key, for what the node
// signs outside libp2p (invites, with the admission key).
func RawKey(key crypto.PrivKey) (ed25519.PrivateKey, error) {
	if key.Type() != pb.KeyType_Ed25519 {
		return nil, ErrNotEd25519
	}
	raw, err := key.Raw()
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: %d bytes", ErrInvalidKey, len(raw))
	}
	return ed25519.PrivateKey(raw), nil
}

func decodeKey(data []byte) (crypto.PrivKey, error) {
	key, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if key.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("%w: key type %s", ErrNotEd25519, key.Type())
	}
	return key, nil
}

// writeFileAtomic writes data to a temporary file in path's directory, syncs
// it, renames it over path and syncs the directory.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Verify reports whether sig is a valid ed25519 signature of data by the raw
// 32-byte public key pub, as made by [Host.Sign].
func Verify(pub, data, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(pub), data, sig)
}

// PublicKeyOf extracts the raw 32-byte ed25519 public key from a peer id
// (ed25519 peer ids inline their key). It fails for other key types.
func PublicKeyOf(id peer.ID) ([]byte, error) {
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("public key of %s: %w", id, err)
	}
	if pub.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("public key of %s: %w", id, ErrNotEd25519)
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, fmt.Errorf("public key of %s: %w", id, err)
	}
	return raw, nil
}
