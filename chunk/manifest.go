package chunk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ipfs/go-cid"
)

// MaxChunkSize bounds the chunk size a manifest may declare and Ingest may
// use, so that a manifest from outside can never make a reader allocate
// more than a few chunks of this size.
const MaxChunkSize int64 = 64 << 20

// Ref is one chunk of a file: its CID and its length in bytes.
type Ref struct {
	CID  cid.Cid
	Size int64
}

// Manifest is a file: its ordered chunks. Chunk i starts at byte offset
// i*ChunkSize, which is the sum of the sizes before it, because every chunk
// but the last has exactly ChunkSize bytes.
//
// A manifest is encoded as canonical DAG-CBOR:
//
//	{"size": int, "chunks": [[CID link, size], ...], "chunkSize": int}
//
// (keys in DAG-CBOR's canonical order: shorter first), and its CID is a CIDv1
// with codec dag-cbor and multihash sha2-256 of that encoding.
type Manifest struct {
	ChunkSize int64 // the nominal chunk size used to split (every chunk but the last has this size)
	Size      int64 // total bytes = sum of chunk sizes
	Chunks    []Ref
}

// CBOR major types and the fixed strings of the encoding.
const (
	majorUint  = 0
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorMap   = 5
	majorTag   = 6

	tagCID = 42 // DAG-CBOR link

	// minChunkEntry is the fewest bytes one encoded chunk entry takes:
	// array(2) + tag 42 + bytes head + 0x00 + a 36-byte CIDv1 + a uint.
	minChunkEntry = 1 + 2 + 2 + 1 + 4 + digestLen + 1
)

var (
	keySize      = []byte("size")
	keyChunks    = []byte("chunks")
	keyChunkSize = []byte("chunkSize")
)

// appendHead appends a CBOR head with the shortest encoding of v.
func appendHead(b []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(b, m|byte(v))
	case v <= math.MaxUint8:
		return append(b, m|24, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, m|27), v)
	}
}

func appendText(b, s []byte) []byte {
	return append(appendHead(b, majorText, uint64(len(s))), s...)
}

// Encode returns the canonical DAG-CBOR bytes of m. It is deterministic:
// equal manifests give equal bytes.
func (m *Manifest) Encode() []byte {
	n := 32 + len(m.Chunks)*(minChunkEntry+16)
	b := make([]byte, 0, n)
	b = appendHead(b, majorMap, 3)
	b = appendText(b, keySize)
	b = appendHead(b, majorUint, uint64(m.Size))
	b = appendText(b, keyChunks)
	b = appendHead(b, majorArray, uint64(len(m.Chunks)))
	for _, r := range m.Chunks {
		b = appendHead(b, majorArray, 2)
		b = appendHead(b, majorTag, tagCID)
		cb := r.CID.Bytes()
		b = appendHead(b, majorBytes, uint64(len(cb)+1))
		b = append(b, 0) // multibase identity prefix required by DAG-CBOR links
		b = append(b, cb...)
		b = appendHead(b, majorUint, uint64(r.Size))
	}
	b = appendText(b, keyChunkSize)
	b = appendHead(b, majorUint, uint64(m.ChunkSize))
	return b
}

// maxChunkEntry is the most bytes one encoded chunk entry takes: array(2)
// + tag 42 + bytes head + 0x00 + a 36-byte CIDv1 + a uint of up to 9 bytes.
const maxChunkEntry = 1 + 2 + 2 + 1 + 4 + digestLen + 9

// MaxManifestSize is the most bytes the manifest of a file of size bytes
// in chunks of chunkSize can take encoded: what a node that is offered the
// file may read of it. 0 for sizes that make no manifest.
func MaxManifestSize(size, chunkSize int64) int64 {
	if size < 0 || chunkSize <= 0 {
		return 0
	}
	chunks := size / chunkSize
	if size%chunkSize != 0 {
		chunks++
	}
	const head = 64 // the map, its three keys, the size, the array head, the chunk size
	if chunks > (math.MaxInt64-head)/maxChunkEntry {
		return math.MaxInt64
	}
	return head + chunks*maxChunkEntry
}

// CID returns the manifest's CIDv1: codec dag-cbor, multihash sha2-256 of
// [Manifest.Encode].
func (m *Manifest) CID() cid.Cid {
	return sumCID(codecDagCBOR, m.Encode())
}

// ChunkRange returns the indexes [first, last] of the chunks that cover
// bytes [off, off+n) of the file, for 0 <= off < m.Size and n > 0. Indexes
// are clamped to the manifest's chunks; a manifest without chunks gives
// first > last.
func (m *Manifest) ChunkRange(off, n int64) (first, last int) {
	if len(m.Chunks) == 0 || m.ChunkSize <= 0 {
		return 0, -1
	}
	if off < 0 {
		off = 0
	}
	if n < 1 {
		n = 1
	}
	end := off + (n - 1)
	if end < off { // overflow
		end = math.MaxInt64
	}
	clamp := func(i int64) int {
		if i >= int64(len(m.Chunks)) {
			return len(m.Chunks) - 1
		}
		return int(i)
	}
	return clamp(off / m.ChunkSize), clamp(end / m.ChunkSize)
}

// Validate checks that m is consistent: a chunk size in (0, MaxChunkSize],
// every chunk a CIDv1 raw sha2-256 of 1..ChunkSize bytes, every chunk but
// the last exactly ChunkSize bytes, and Size the sum of the chunk sizes.
// The error wraps [ErrInvalidManifest].
func (m *Manifest) Validate() error {
	if m.ChunkSize <= 0 || m.ChunkSize > MaxChunkSize {
		return fmt.Errorf("%w: chunk size %d out of range", ErrInvalidManifest, m.ChunkSize)
	}
	var sum int64
	for i, r := range m.Chunks {
		if !isChunkCID(r.CID) {
			return fmt.Errorf("%w: chunk %d: cid %s is not a CIDv1 raw sha2-256", ErrInvalidManifest, i, r.CID)
		}
		if r.Size <= 0 || r.Size > m.ChunkSize {
			return fmt.Errorf("%w: chunk %d: size %d out of range", ErrInvalidManifest, i, r.Size)
		}
		if i < len(m.Chunks)-1 && r.Size != m.ChunkSize {
			return fmt.Errorf("%w: chunk %d: size %d, want the chunk size %d", ErrInvalidManifest, i, r.Size, m.ChunkSize)
		}
		if sum > math.MaxInt64-r.Size {
			return fmt.Errorf("%w: total size overflows", ErrInvalidManifest)
		}
		sum += r.Size
	}
	if sum != m.Size {
		return fmt.Errorf("%w: size %d, chunks sum to %d", ErrInvalidManifest, m.Size, sum)
	}
	return nil
}

// isChunkCID reports whether c is a CIDv1, codec raw, multihash sha2-256.
func isChunkCID(c cid.Cid) bool {
	if !c.Defined() || c.Version() != 1 || c.Type() != codecRaw {
		return false
	}
	h := c.Hash()
	return len(h) == 2+digestLen && h[0] == hashSHA256 && h[1] == digestLen
}

// DecodeManifest decodes and validates a manifest. It is strict: it accepts
// only the canonical encoding produced by [Manifest.Encode] of a manifest
// that passes [Manifest.Validate]; every other input gives an error wrapping
// [ErrInvalidManifest]. It never allocates more than a small multiple of
// len(b).
func DecodeManifest(b []byte) (*Manifest, error) {
	d := decoder{b: b}
	m, err := d.manifest()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if !bytes.Equal(m.Encode(), b) {
		return nil, fmt.Errorf("%w: not canonical", ErrInvalidManifest)
	}
	return m, nil
}

// decoder reads the one CBOR shape of a manifest.
type decoder struct {
	b   []byte
	pos int
}

func (d *decoder) remaining() int { return len(d.b) - d.pos }

// head reads a CBOR head of the wanted major type with a definite,
// shortest-form argument.
func (d *decoder) head(major byte) (uint64, error) {
	if d.remaining() < 1 {
		return 0, fmt.Errorf("offset %d: unexpected end", d.pos)
	}
	ib := d.b[d.pos]
	if ib>>5 != major {
		return 0, fmt.Errorf("offset %d: major type %d, want %d", d.pos, ib>>5, major)
	}
	info := ib & 0x1f
	d.pos++
	var n int
	switch {
	case info < 24:
		return uint64(info), nil
	case info == 24:
		n = 1
	case info == 25:
		n = 2
	case info == 26:
		n = 4
	case info == 27:
		n = 8
	default:
		return 0, fmt.Errorf("offset %d: unsupported additional info %d", d.pos-1, info)
	}
	if d.remaining() < n {
		return 0, fmt.Errorf("offset %d: unexpected end", d.pos)
	}
	var v uint64
	for _, c := range d.b[d.pos : d.pos+n] {
		v = v<<8 | uint64(c)
	}
	d.pos += n
	var min uint64
	switch n {
	case 1:
		min = 24
	case 2:
		min = math.MaxUint8 + 1
	case 4:
		min = math.MaxUint16 + 1
	case 8:
		min = math.MaxUint32 + 1
	}
	if v < min {
		return 0, fmt.Errorf("offset %d: integer not in shortest form", d.pos-n-1)
	}
	return v, nil
}

func (d *decoder) int64() (int64, error) {
	v, err := d.head(majorUint)
	if err != nil {
		return 0, err
	}
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("offset %d: integer %d overflows int64", d.pos, v)
	}
	return int64(v), nil
}

func (d *decoder) key(want []byte) error {
	n, err := d.head(majorText)
	if err != nil {
		return err
	}
	if uint64(d.remaining()) < n || !bytes.Equal(d.b[d.pos:d.pos+int(n)], want) {
		return fmt.Errorf("offset %d: want key %q", d.pos, want)
	}
	d.pos += int(n)
	return nil
}

func (d *decoder) manifest() (*Manifest, error) {
	n, err := d.head(majorMap)
	if err != nil {
		return nil, err
	}
	if n != 3 {
		return nil, fmt.Errorf("map of %d entries, want 3", n)
	}
	m := &Manifest{}
	if err := d.key(keySize); err != nil {
		return nil, err
	}
	if m.Size, err = d.int64(); err != nil {
		return nil, err
	}
	if err := d.key(keyChunks); err != nil {
		return nil, err
	}
	count, err := d.head(majorArray)
	if err != nil {
		return nil, err
	}
	if count > uint64(d.remaining()/minChunkEntry) {
		return nil, fmt.Errorf("%d chunks cannot fit in %d bytes", count, d.remaining())
	}
	if count > 0 {
		m.Chunks = make([]Ref, 0, count)
	}
	for i := range count {
		r, err := d.ref()
		if err != nil {
			return nil, fmt.Errorf("chunk %d: %w", i, err)
		}
		m.Chunks = append(m.Chunks, r)
	}
	if err := d.key(keyChunkSize); err != nil {
		return nil, err
	}
	if m.ChunkSize, err = d.int64(); err != nil {
		return nil, err
	}
	if d.remaining() != 0 {
		return nil, fmt.Errorf("%d trailing bytes", d.remaining())
	}
	return m, nil
}

func (d *decoder) ref() (Ref, error) {
	n, err := d.head(majorArray)
	if err != nil {
		return Ref{}, err
	}
	if n != 2 {
		return Ref{}, fmt.Errorf("array of %d items, want 2", n)
	}
	tag, err := d.head(majorTag)
	if err != nil {
		return Ref{}, err
	}
	if tag != tagCID {
		return Ref{}, fmt.Errorf("tag %d, want %d", tag, tagCID)
	}
	l, err := d.head(majorBytes)
	if err != nil {
		return Ref{}, err
	}
	if l < 2 || uint64(d.remaining()) < l {
		return Ref{}, fmt.Errorf("offset %d: bad link length %d", d.pos, l)
	}
	raw := d.b[d.pos : d.pos+int(l)]
	d.pos += int(l)
	if raw[0] != 0 {
		return Ref{}, fmt.Errorf("link without the identity multibase prefix")
	}
	c, err := cid.Cast(raw[1:])
	if err != nil {
		return Ref{}, fmt.Errorf("link: %v", err)
	}
	size, err := d.int64()
	if err != nil {
		return Ref{}, err
	}
	return Ref{CID: c, Size: size}, nil
}
