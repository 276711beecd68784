package s3

import (
	"errors"
	"io"

	"github.com/ddsnet/dds/internal/httpguard"
)

// responseWriter is the stall-guarded writer with the S3 error code
// answered, for the metrics.
type responseWriter struct {
	*httpguard.ResponseWriter
	code string
}

// streamN copies n bytes of r to w. A reader with a WriteTo (the node's
// readers: each verified chunk written from the reader's own buffer) is
// copied through it, capped at n bytes, as the JSON:API's downloads are:
// an io.LimitReader would hide WriteTo and move every byte once more
// through a buffer of ours. Others go through a pooled buffer. Bytes past
// n are never written (the response's length is n); fewer than n come
// back as a short count.
func streamN(w io.Writer, r io.Reader, n int64) (int64, error) {
	wt, ok := r.(io.WriterTo)
	if !ok {
		return httpguard.Stream(w, io.LimitReader(r, n))
	}
	cw := &cappedWriter{w: w, left: n}
	k, err := wt.WriteTo(cw)
	if errors.Is(err, errCapped) {
		err = nil
	}
	return k, err
}

// errCapped ends a WriteTo that had more than the capped bytes to write.
var errCapped = errors.New("s3: more bytes than the object's length")

// cappedWriter passes at most left bytes to w, then fails with errCapped.
type cappedWriter struct {
	w    io.Writer
	left int64
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= c.left {
		k, err := c.w.Write(p)
		c.left -= int64(k)
		return k, err
	}
	k, err := c.w.Write(p[:c.left])
	c.left -= int64(k)
	if err == nil {
		err = errCapped
	}
	return k, err
}
