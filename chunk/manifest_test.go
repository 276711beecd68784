package chunk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	mh "github.com/multiformats/go-multihash"
)

// testManifest returns a valid manifest of n chunks of chunkSize bytes
// (the last one last bytes, or chunkSize when last is 0).
func testManifest(n int, chunkSize, last int64) *Manifest {
	m := &Manifest{ChunkSize: chunkSize}
	for i := range n {
		size := chunkSize
		if i == n-1 && last > 0 {
			size = last
		}
		m.Chunks = append(m.Chunks, Ref{CID: Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), Size: size})
		m.Size += size
	}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	tests := []*Manifest{
		{ChunkSize: DefaultSize},
		{ChunkSize: 1},
		testManifest(1, DefaultSize, 1),
		testManifest(1, DefaultSize, 0),
		testManifest(3, 1024, 1000),
		testManifest(23, 24, 23),        // lengths around the 1-byte head boundary
		testManifest(256, 255, 0),       // uint8 boundaries
		testManifest(300, 65536, 65535), // uint16/uint32 boundaries
		testManifest(2, MaxChunkSize, 5),
	}
	for _, m := range tests {
		b := m.Encode()
		got, err := DecodeManifest(b)
		if err != nil {
			t.Fatalf("decode %d chunks of %d: %v", len(m.Chunks), m.ChunkSize, err)
		}
		if got.ChunkSize != m.ChunkSize || got.Size != m.Size || len(got.Chunks) != len(m.Chunks) {
			t.Fatalf("round trip: got %+v", got)
		}
		for i := range m.Chunks {
			if got.Chunks[i] != m.Chunks[i] {
				t.Fatalf("chunk %d: got %v, want %v", i, got.Chunks[i], m.Chunks[i])
			}
		}
		if got.CID() != m.CID() {
			t.Fatal("CID changed on round trip")
		}
		if c := m.CID(); c.Type() != cid.DagCBOR || c.Version() != 1 || Verify(c, b) != nil {
			t.Fatalf("CID %s is not a dag-cbor CIDv1 of the encoding", c)
		}
		// go-ipld-prime's DAG-CBOR codec reads it and writes the same bytes.
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagcbor.Decode(nb, bytes.NewReader(b)); err != nil {
			t.Fatalf("ipld-prime decode: %v", err)
		}
		var out bytes.Buffer
		if err := dagcbor.Encode(nb.Build(), &out); err != nil {
			t.Fatalf("ipld-prime encode: %v", err)
		}
		if !bytes.Equal(out.Bytes(), b) {
			t.Fatalf("not canonical DAG-CBOR:\n ours %x\n ipld %x", b, out.Bytes())
		}
	}
}

func TestDecodeManifestStrict(t *testing.T) {
	valid := testManifest(2, 4, 3)
	enc := valid.Encode()
	mutate := func(f func(m *Manifest)) []byte {
		m := testManifest(2, 4, 3)
		f(m)
		return m.Encode()
	}
	// A CID with a sha2-512 hash and one with the dag-cbor codec.
	sha512, _ := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_512}.Sum([]byte("x"))
	cbor := cid.NewCidV1(cid.DagCBOR, Sum([]byte("x")).Hash())
	v0, _ := cid.V0Builder{}.Sum([]byte("x"))

	// Hand-made non-canonical variants of enc.
	nonMinimal := append([]byte{0xa3, 0x64, 's', 'i', 'z', 'e', 0x18, 0x07}, enc[7:]...) // size 7 as 1-byte uint
	indefMap := append([]byte{0xbf}, append(append([]byte{}, enc[1:]...), 0xff)...)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", enc[:len(enc)-1]},
		{"trailing byte", append(append([]byte{}, enc...), 0)},
		{"not a map", []byte{0x80}},
		{"non-minimal uint", nonMinimal},
		{"indefinite map", indefMap},
		{"size mismatch", mutate(func(m *Manifest) { m.Size++ })},
		{"zero chunk size", mutate(func(m *Manifest) { m.ChunkSize = 0 })},
		{"chunk size too big", mutate(func(m *Manifest) { m.ChunkSize = MaxChunkSize + 1 })},
		{"short middle chunk", mutate(func(m *Manifest) { m.Chunks[0].Size--; m.Size-- })},
		{"last chunk too big", mutate(func(m *Manifest) { m.Chunks[1].Size = 5; m.Size = 9 })},
		{"empty chunk", mutate(func(m *Manifest) { m.Chunks[1].Size = 0; m.Size = 4 })},
		{"sha2-512 chunk", mutate(func(m *Manifest) { m.Chunks[0].CID = sha512 })},
		{"dag-cbor chunk", mutate(func(m *Manifest) { m.Chunks[0].CID = cbor })},
		{"cidv0 chunk", mutate(func(m *Manifest) { m.Chunks[0].CID = v0 })},
		{"huge array claim", []byte{0xa3, 0x64, 's', 'i', 'z', 'e', 0x00, 0x66, 'c', 'h', 'u', 'n', 'k', 's', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"negative size", []byte{0xa3, 0x64, 's', 'i', 'z', 'e', 0x20}},
		{"size overflows int64", append([]byte{0xa3, 0x64, 's', 'i', 'z', 'e', 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0}, enc[7:]...)},
		{"keys out of order", bytes.Replace(bytes.Replace(enc, []byte("\x64size"), []byte("\x64sizf"), 1), []byte("\x64sizf"), []byte("\x64aize"), 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeManifest(tt.b)
			if !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("DecodeManifest = %+v, %v; want ErrInvalidManifest", m, err)
			}
		})
	}
	if _, err := DecodeManifest(enc); err != nil {
		t.Fatalf("valid manifest rejected: %v", err)
	}
}

func TestChunkRange(t *testing.T) {
	m := testManifest(4, 10, 5) // bytes [0,35): chunks [0,10) [10,20) [20,30) [30,35)
	tests := []struct {
		off, n      int64
		first, last int
	}{
		{0, 1, 0, 0},
		{0, 10, 0, 0},
		{0, 11, 0, 1},
		{9, 1, 0, 0},
		{9, 2, 0, 1},
		{10, 10, 1, 1},
		{10, 11, 1, 2},
		{19, 12, 1, 3},
		{0, 35, 0, 3},
		{30, 5, 3, 3},
		{34, 1, 3, 3},
		{0, math.MaxInt64, 0, 3}, // clamped
	}
	for _, tt := range tests {
		first, last := m.ChunkRange(tt.off, tt.n)
		if first != tt.first || last != tt.last {
			t.Errorf("ChunkRange(%d, %d) = %d, %d; want %d, %d", tt.off, tt.n, first, last, tt.first, tt.last)
		}
	}
	empty := &Manifest{ChunkSize: 10}
	if first, last := empty.ChunkRange(0, 1); first <= last {
		t.Errorf("empty manifest: ChunkRange = %d, %d", first, last)
	}
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add(testManifest(0, 1, 0).Encode())
	f.Add(testManifest(1, 5, 3).Encode())
	f.Add(testManifest(3, DefaultSize, 77).Encode())
	f.Add(testManifest(30, 300, 0).Encode())
	f.Add([]byte{0xa3})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("error does not wrap ErrInvalidManifest: %v", err)
			}
			return
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatal("accepted bytes that do not re-encode identically")
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		if len(m.Chunks) > 0 {
			first, last := m.ChunkRange(0, m.Size)
			if first != 0 || last != len(m.Chunks)-1 {
				t.Fatalf("ChunkRange(0, size) = %d, %d", first, last)
			}
		}
	})
}

// TestMaxManifestSize: the bound holds every manifest's encoding, and
// allows no more than 64 bytes a chunk past a fixed head, so that a
// manifest announced far larger than its file is refused.
func TestMaxManifestSize(t *testing.T) {
	for _, c := range []struct{ size, chunk int64 }{{0, 1 << 20}, {1, 1 << 20}, {1 << 20, 1 << 20}, {1<<20 + 1, 1 << 20}, {5000, 7}, {1 << 40, 1 << 30}} {
		m := &Manifest{Size: c.size, ChunkSize: c.chunk}
		for off := int64(0); off < c.size; off += c.chunk {
			m.Chunks = append(m.Chunks, Ref{CID: Sum(binary.AppendVarint(nil, off)), Size: min(c.chunk, c.size-off)})
		}
		got, bound := int64(len(m.Encode())), MaxManifestSize(c.size, c.chunk)
		if got > bound {
			t.Fatalf("%+v: encoding %d bytes, bound %d", c, got, bound)
		}
		if bound > 64+64*int64(len(m.Chunks)) {
			t.Fatalf("%+v: bound %d for %d chunks", c, bound, len(m.Chunks))
		}
	}
	if MaxManifestSize(-1, 1) != 0 || MaxManifestSize(1, 0) != 0 {
		t.Fatal("a bound for sizes that make no manifest")
	}
}
