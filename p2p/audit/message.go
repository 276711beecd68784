package audit

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ddsnet/dds/p2p/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// NonceSize is the size of a challenge's nonce in bytes.
const NonceSize = 32

// maxCID bounds the CID bytes a request may carry: a CIDv1 with a sha2-256
// multihash is 36 bytes; this leaves room for longer hashes.
const maxCID = 128

// Reply status bytes.
const (
	statusOK         byte = 0 // a 32-byte proof follows
	statusMissing    byte = 1 // the holder lacks the chunk
	statusCorrupt    byte = 2 // the holder's copy fails verification
	statusBusy       byte = 3 // MaxConcurrent challenges are being served
	statusBadRequest byte = 4 // the request is malformed
	statusError      byte = 5 // the holder could not read its store
)

// errBadRequest reports a request that does not decode.
var errBadRequest = errors.New("malformed request")

// appendRequest encodes a request: the nonce, then the CID's bytes, each
// as a frame (a uvarint length, then the bytes).
func appendRequest(b, nonce []byte, c cid.Cid) []byte {
	b = binary.AppendUvarint(b, uint64(len(nonce)))
	b = append(b, nonce...)
	cb := c.Bytes()
	b = binary.AppendUvarint(b, uint64(len(cb)))
	return append(b, cb...)
}

// readRequest decodes a request, reading no more than its limits allow:
// a nonce frame longer than [NonceSize] or a CID frame longer than maxCID
// fails before its body is read. A nonce of another size than [NonceSize]
// or a CID that does not parse wraps errBadRequest.
func readRequest(r *bufio.Reader) (nonce [NonceSize]byte, c cid.Cid, err error) {
	n, err := wire.ReadFrame(r, NonceSize)
	if err != nil {
		return nonce, cid.Undef, fmt.Errorf("read nonce: %w", err)
	}
	if len(n) != NonceSize {
		wire.ReleaseFrame(n)
		return nonce, cid.Undef, fmt.Errorf("nonce of %d bytes, want %d: %w", len(n), NonceSize, errBadRequest)
	}
	copy(nonce[:], n)
	wire.ReleaseFrame(n)
	cb, err := wire.ReadFrame(r, maxCID)
	if err != nil {
		return nonce, cid.Undef, fmt.Errorf("read cid: %w", err)
	}
	defer wire.ReleaseFrame(cb)
	c, err = cid.Cast(cb)
	if err != nil {
		return nonce, cid.Undef, fmt.Errorf("parse cid: %v: %w", err, errBadRequest)
	}
	return nonce, c, nil
}

// proofDomain opens what a proof hashes, so that a proof is never taken
// for another hash of the same bytes.
const proofDomain = "dds-audit-v2"

// Proof returns holder's answer to a challenge: SHA-256 of the domain, the
// nonce, the holder's peer id (length-prefixed) and the chunk's bytes,
// hashed without concatenating them. It binds the holder: a holder that
// passed its challenge on to another holder of the chunk and returned that
// one's proof answers a wrong proof.
func Proof(nonce []byte, holder peer.ID, data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(proofDomain))
	h.Write(nonce)
	h.Write(binary.AppendUvarint(nil, uint64(len(holder))))
	h.Write([]byte(holder))
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// readReply decodes a reply: a status byte, then for statusOK the 32-byte
// proof.
func readReply(r io.Reader) (status byte, proof [32]byte, err error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, proof, err
	}
	if b[0] != statusOK {
		return b[0], proof, nil
	}
	if _, err := io.ReadFull(r, proof[:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, proof, err
	}
	return statusOK, proof, nil
}
