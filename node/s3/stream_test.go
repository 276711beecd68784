package s3

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// writerToReader is a reader whose WriteTo writes all it has in one call,
// as the node's chunk readers write a whole chunk.
type writerToReader struct {
	data  []byte
	calls int
}

func (r *writerToReader) Read(p []byte) (int, error) { panic("Read: WriteTo should be used") }

func (r *writerToReader) WriteTo(w io.Writer) (int64, error) {
	r.calls++
	k, err := w.Write(r.data)
	return int64(k), err
}

// streamN writes exactly n bytes of a reader with WriteTo through it (never
// the bytes past n), and a short count when the reader has fewer.
func TestStreamN(t *testing.T) {
	for _, tc := range []struct {
		data string
		n    int64
		want string
	}{
		{"hello world", 11, "hello world"},
		{"hello world", 5, "hello"},
		{"hello", 11, "hello"},
		{"", 0, ""},
	} {
		var out bytes.Buffer
		r := &writerToReader{data: []byte(tc.data)}
		k, err := streamN(&out, r, tc.n)
		if err != nil || out.String() != tc.want || k != int64(len(tc.want)) || r.calls != 1 {
			t.Errorf("streamN(%q, %d) = %d, %v, wrote %q in %d calls; want %q", tc.data, tc.n, k, err, out.String(), r.calls, tc.want)
		}
		out.Reset()
		k, err = streamN(&out, strings.NewReader(tc.data+"tail"), tc.n)
		if want := (tc.data + "tail")[:min(int(tc.n), len(tc.data)+4)]; err != nil || out.String() != want || k != int64(len(want)) {
			t.Errorf("streamN of a plain reader: %d, %v, %q; want %q", k, err, out.String(), want)
		}
	}
}
