package chunk

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func TestSumVerify(t *testing.T) {
	hello := []byte("hello")
	// Reference CID built through go-cid and go-multihash.
	want, err := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_256}.Sum(hello)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sum(hello); got != want {
		t.Fatalf("Sum = %s, want %s", got, want)
	}
	if got := Sum(hello).String(); got != "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq" {
		t.Fatalf("Sum(hello) = %s", got)
	}
	v0, err := cid.V0Builder{}.Sum(hello)
	if err != nil {
		t.Fatal(err)
	}
	dagcbor := cid.NewCidV1(cid.DagCBOR, Sum(hello).Hash())
	blake, err := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_512}.Sum(hello)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    cid.Cid
		data []byte
		ok   bool
	}{
		{"match", Sum(hello), hello, true},
		{"empty", Sum(nil), []byte{}, true},
		{"cidv0 same hash", v0, hello, true},
		{"other codec same hash", dagcbor, hello, true},
		{"one byte differs", Sum(hello), []byte("hellp"), false},
		{"truncated", Sum(hello), hello[:4], false},
		{"extended", Sum(hello), []byte("hello!"), false},
		{"not sha2-256", blake, hello, false},
		{"undefined", cid.Undef, hello, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.c, tt.data)
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrHashMismatch) {
				t.Fatalf("Verify = %v, want ErrHashMismatch", err)
			}
		})
	}
}

func BenchmarkSum(b *testing.B) {
	data := randBytes(1, int(DefaultSize))
	b.Run("chunk.Sum", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			Sum(data)
		}
	})
	b.Run("crypto/sha256", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sha256.Sum256(data)
		}
	})
	b.Run("go-multihash", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := mh.Sum(data, mh.SHA2_256, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
