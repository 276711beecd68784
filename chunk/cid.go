package chunk

import (
	"crypto/sha256"
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Multicodec and multihash codes used by the store.
const (
	codecRaw     = 0x55 // cid.Raw
	codecDagCBOR = 0x71 // cid.DagCBOR
	hashSHA256   = 0x12 // mh.SHA2_256
	digestLen    = sha256.Size
)

// sumCID returns the CIDv1 with the given codec and the sha2-256 multihash of data.
func sumCID(codec byte, data []byte) cid.Cid {
	d := sha256.Sum256(data)
	return digestCID(codec, d[:])
}

// digestCID builds a CIDv1 from a sha2-256 digest. Both codecs used here
// encode as a one-byte varint, so the bytes are built directly.
func digestCID(codec byte, digest []byte) cid.Cid {
	var b [4 + digestLen]byte
	b[0], b[1], b[2], b[3] = 1, codec, hashSHA256, digestLen
	copy(b[4:], digest)
	c, err := cid.Cast(b[:])
	if err != nil {
		// The bytes above are a valid CIDv1 by construction.
		panic(fmt.Sprintf("chunk: build cid: %v", err))
	}
	return c
}

// Sum returns the CIDv1 (codec raw, multihash sha2-256) of one chunk's bytes.
func Sum(data []byte) cid.Cid {
	return sumCID(codecRaw, data)
}

// Verify checks data against c (any CID whose multihash is sha2-256). It
// returns an error wrapping [ErrHashMismatch] when the digest differs or
// when c does not carry a sha2-256 multihash.
func Verify(c cid.Cid, data []byte) error {
	digest, err := sha256Digest(c)
	if err != nil {
		return err
	}
	if sha256.Sum256(data) != [digestLen]byte(digest) {
		return fmt.Errorf("verify %s: %w", c, ErrHashMismatch)
	}
	return nil
}

// sha256Digest returns the digest of a CID whose multihash is sha2-256.
func sha256Digest(c cid.Cid) ([]byte, error) {
	if !c.Defined() {
		return nil, fmt.Errorf("verify: undefined cid: %w", ErrHashMismatch)
	}
	h := c.Hash()
	if len(h) == 2+digestLen && h[0] == hashSHA256 && h[1] == digestLen {
		return h[2:], nil
	}
	dec, err := mh.Decode(h)
	if err != nil {
		return nil, fmt.Errorf("verify %s: decode multihash: %v: %w", c, err, ErrHashMismatch)
	}
	return nil, fmt.Errorf("verify %s: multihash %s is not sha2-256: %w", c, mh.Codes[dec.Code], ErrHashMismatch)
}
