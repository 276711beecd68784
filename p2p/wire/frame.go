package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// WriteFrame writes b as one message in [ReadMsg]'s format (a uvarint
// length, then the bytes) without copying b: for bulk data such as chunks.
func WriteFrame(w io.Writer, b []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return fmt.Errorf("write frame: %w", classify(err))
	}
	if len(b) == 0 {
		return nil
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write frame: %w", classify(err))
	}
	return nil
}

// framePool recycles the buffers of [ReadFrame].
var framePool sync.Pool

func getFrame(n int) []byte {
	if b, ok := framePool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

// ReleaseFrame returns a buffer [ReadFrame] gave to the pool; the caller
// must not use it afterwards.
func ReleaseFrame(b []byte) { framePool.Put(&b) }

// ReadFrame reads one message of at most max bytes into a pooled buffer
// (give it back with [ReleaseFrame]). A length over max fails with
// [ErrTooLarge] before anything is allocated for it.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read frame length: %w", classify(err))
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("read frame: %w: %d bytes, limit %d", ErrTooLarge, n, max)
	}
	b := getFrame(int(n))
	if _, err := io.ReadFull(r, b); err != nil {
		ReleaseFrame(b)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read frame: %w", classify(err))
	}
	return b, nil
}
