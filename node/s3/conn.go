package s3

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// responseWriter records the status, the S3 error code and the bytes
// written, and keeps the stall guard's write deadline moving.
type responseWriter struct {
	http.ResponseWriter
	status int
	code   string
	n      int64
	progress
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.progress.before()
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	w.progress.moved(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts a request body's bytes and keeps the stall guard's
// read deadline moving.
type countingBody struct {
	r io.ReadCloser
	n int64
	progress
}

func (b *countingBody) Read(p []byte) (int, error) {
	b.progress.before()
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.progress.moved(n)
	return n, err
}

func (b *countingBody) Close() error { return b.r.Close() }

// progress keeps a connection's deadline at most stall after the last
// time progressBytes moved: set once per progressBytes, not per call,
// since each set costs a timer update. A 5 GiB upload takes as long as it
// needs at any sane rate; a client trickling a byte a minute does not hold
// a connection and a goroutine for ever.
type progress struct {
	stall   time.Duration
	set     func(time.Time) error
	armed   bool
	pending int
}

func (p *progress) before() {
	if !p.armed {
		p.armed = true
		_ = p.set(time.Now().Add(p.stall))
	}
}

func (p *progress) moved(n int) {
	if p.pending += n; p.pending >= progressBytes {
		p.pending = 0
		_ = p.set(time.Now().Add(p.stall))
	}
}

// copyBuffers are the buffers objects are streamed through.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// stream copies r to w through a pooled buffer.
func stream(w io.Writer, r io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	return io.CopyBuffer(w, r, *bp)
}

// streamN copies n bytes of r to w. A reader with a WriteTo (the node's
// readers: each verified chunk written from the reader's own buffer) is
// copied through it, capped at n bytes, as the JSON:API's downloads are:
// through Read, behind an io.LimitReader that hides WriteTo, every byte
// was moved once more, 256 KiB at a time, which cost a download from a
// node that holds no copy about a tenth of its rate. Others go through a
// pooled buffer. Bytes past n are never written (the response's length
// is n); fewer than n come back as a short count.
func streamN(w io.Writer, r io.Reader, n int64) (int64, error) {
	wt, ok := r.(io.WriterTo)
	if !ok {
		return stream(w, io.LimitReader(r, n))
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
