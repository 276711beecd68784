package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
)

// errBase64 is data that is not standard base64.
var errBase64 = errors.New("illegal base64 data")

// b64Reader decodes standard (padded) base64 from src in large blocks.
// Like encoding/base64's decoder it skips '\r' and '\n', and it refuses
// anything after padding and a final group that is not complete.
type b64Reader struct {
	src    io.Reader
	in     []byte // undecoded characters
	n      int
	out    []byte // decoded bytes not yet read
	off    int
	padded bool
	eof    bool
	err    error
}

func newB64Reader(src io.Reader) *b64Reader {
	return &b64Reader{src: src, in: make([]byte, 64<<10), out: make([]byte, 0, 48<<10)}
}

func (d *b64Reader) Read(p []byte) (int, error) {
	for {
		if d.off < len(d.out) {
			n := copy(p, d.out[d.off:])
			d.off += n
			return n, nil
		}
		if d.err != nil {
			return 0, d.err
		}
		if d.eof && d.n == 0 {
			d.err = io.EOF
			return 0, io.EOF
		}
		if !d.eof {
			m, err := d.src.Read(d.in[d.n:])
			chunk := d.in[d.n : d.n+m]
			if bytes.IndexByte(chunk, '\n') >= 0 || bytes.IndexByte(chunk, '\r') >= 0 {
				k := 0
				for _, c := range chunk {
					if c != '\n' && c != '\r' {
						chunk[k] = c
						k++
					}
				}
				m = k
			}
			d.n += m
			switch {
			case err == io.EOF:
				d.eof = true
			case err != nil:
				d.err = err
				return 0, err
			}
		}
		q := d.n / 4 * 4
		if d.eof && q != d.n {
			d.err = errBase64 // an incomplete final group
			return 0, d.err
		}
		if q == 0 {
			continue
		}
		if d.padded {
			d.err = errBase64 // data after padding
			return 0, d.err
		}
		k, err := base64.StdEncoding.Decode(d.out[:cap(d.out)], d.in[:q])
		if err != nil {
			d.err = errBase64
			return 0, d.err
		}
		d.padded = d.in[q-1] == '='
		d.out, d.off = d.out[:k], 0
		d.n = copy(d.in, d.in[q:d.n])
	}
}
