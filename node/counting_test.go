package node

import (
	"bytes"
	"io"
	"testing"
)

// writerToSource is a reader that says whether io.Copy used its WriteTo.
type writerToSource struct {
	r       *bytes.Reader
	writeTo bool
}

func (s *writerToSource) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s *writerToSource) Close() error               { return nil }
func (s *writerToSource) WriteTo(w io.Writer) (int64, error) {
	s.writeTo = true
	return s.r.WriteTo(w)
}

// A download's counting wrapper hands io.Copy the inner reader's WriteTo
// (the fetch reader's, which writes chunks from its own buffers) and still
// counts every byte.
func TestCountingReaderKeepsWriteTo(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	src := &writerToSource{r: bytes.NewReader(data)}
	var counted float64
	c := &countingReader{ReadCloser: src, add: func(v float64) { counted += v }}
	var out bytes.Buffer
	n, err := io.CopyBuffer(&out, c, make([]byte, 512))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copied %d bytes, err %v; want %d", n, err, len(data))
	}
	if !src.writeTo {
		t.Error("the inner reader's WriteTo was not used")
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Error("copied bytes differ")
	}
	if counted != float64(len(data)) {
		t.Errorf("counted %v bytes, want %d", counted, len(data))
	}
}

// readFromSink is a writer that says whether io.Copy used its ReadFrom.
type readFromSink struct {
	bytes.Buffer
	readFrom bool
}

func (s *readFromSink) ReadFrom(r io.Reader) (int64, error) {
	s.readFrom = true
	return s.Buffer.ReadFrom(r)
}

// An inner reader without WriteTo (a local read) is copied as before: by
// the destination's ReadFrom, every byte counted.
func TestCountingReaderPlainReader(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefghij"), 1000)
	var counted float64
	c := &countingReader{ReadCloser: io.NopCloser(struct{ io.Reader }{bytes.NewReader(data)}), add: func(v float64) { counted += v }}
	out := &readFromSink{}
	n, err := io.Copy(out, c)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copied %d bytes, err %v; want %d", n, err, len(data))
	}
	if !out.readFrom {
		t.Error("the destination's ReadFrom was not used")
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Error("copied bytes differ")
	}
	if counted != float64(len(data)) {
		t.Errorf("counted %v bytes, want %d", counted, len(data))
	}
}
