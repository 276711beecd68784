package chunk

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"testing"
)

// TestBlocksDirectIO writes and reads back chunk files of sizes around the
// direct-I/O alignment, from aligned and unaligned buffers, with direct
// I/O and without (as on a file system that refuses it).
func TestBlocksDirectIO(t *testing.T) {
	sizes := []int{1, 4095, 4096, 4097, 8191, 65536 + 3, 1<<20 - 1, 1 << 20, 3<<20 + 5}
	for _, buffered := range []bool{false, true} {
		b, err := openBlocks(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b.buffered.Store(buffered)
		var dst []byte
		for _, size := range sizes {
			for _, off := range []int{0, 1} {
				t.Run(fmt.Sprintf("buffered=%v/size=%d/off=%d", buffered, size, off), func(t *testing.T) {
					src := makeAligned(size + off)[off:]
					mrand.NewChaCha8([32]byte{byte(size), byte(off)}).Read(src)
					c := Sum(src)
					if err := b.write(c, src); err != nil {
						t.Fatal(err)
					}
					if n, err := b.stat(c); err != nil || n != int64(size) {
						t.Fatalf("stat: %d, %v; want %d", n, err, size)
					}
					got, err := b.read(c, dst, int64(size))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, src) {
						t.Fatalf("read back %d bytes that differ from the %d written", len(got), size)
					}
					dst = got // reused by the next read, as readers do
					if _, err := b.read(c, nil, int64(size-1)); err == nil {
						t.Fatal("a file larger than max was read")
					}
				})
			}
		}
	}
}

// TestBlocksTruncatedRead reads a chunk file cut short behind the store's
// back: the bytes there come back (and fail verification), no error.
func TestBlocksTruncatedRead(t *testing.T) {
	b, err := openBlocks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 3*directAlign+100)
	c := Sum(data)
	if err := b.write(c, data); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(b.path(blockKey(c)), directAlign+7); err != nil {
		t.Fatal(err)
	}
	got, err := b.read(c, nil, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != directAlign+7 || Verify(c, got) == nil {
		t.Fatalf("read %d bytes of a file cut to %d", len(got), directAlign+7)
	}
}
