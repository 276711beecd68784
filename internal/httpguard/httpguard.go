// Package httpguard guards an HTTP server's requests against clients that
// stall: a request body or a response that stops moving loses its
// connection. Both external APIs of a node (node/httpapi, node/s3) serve
// through it, and count the bytes each request moved.
package httpguard

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// ProgressBytes is how many bytes a body or a response must move within
// each stall period.
const ProgressBytes = 64 << 10

// Guard wraps a request's writer and body: the connection's write and read
// deadlines stay at most stall after the last time ProgressBytes moved,
// and the bytes and the status are counted. It replaces r.Body (when there
// is one) with the guarded body.
func Guard(w http.ResponseWriter, r *http.Request, stall time.Duration) (*ResponseWriter, *Body) {
	rc := http.NewResponseController(w)
	// No deadline but this request's own: the connection may keep the
	// last one's write deadline (net/http sets none without WriteTimeout).
	_ = rc.SetWriteDeadline(time.Time{})
	rw := &ResponseWriter{ResponseWriter: w, progress: progress{stall: stall, set: rc.SetWriteDeadline}}
	in := &Body{r: r.Body, progress: progress{stall: stall, set: rc.SetReadDeadline}}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = in
	}
	return rw, in
}

// ResponseWriter records the status and counts the bytes written.
type ResponseWriter struct {
	http.ResponseWriter
	Status int   // 0 until a header is written
	N      int64 // body bytes written
	progress
}

// WriteHeader records the first status.
func (w *ResponseWriter) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *ResponseWriter) Write(p []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	w.before()
	n, err := w.ResponseWriter.Write(p)
	w.N += int64(n)
	w.moved(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *ResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Body counts the bytes read from a request body.
type Body struct {
	r io.ReadCloser
	N int64 // bytes read
	progress
}

func (b *Body) Read(p []byte) (int, error) {
	b.before()
	n, err := b.r.Read(p)
	b.N += int64(n)
	b.moved(n)
	return n, err
}

// Close closes the body.
func (b *Body) Close() error { return b.r.Close() }

// progress keeps a connection's read or write deadline (set) at most
// stall ahead of the last time ProgressBytes had moved: the first read or
// write sets it, and it moves on each time another ProgressBytes went
// through. One deadline per 64 KiB, not per call: setting it costs a timer
// update. A large upload takes as long as it needs at any sane rate; a
// client trickling a byte a minute does not hold a connection and a
// goroutine for ever.
type progress struct {
	stall   time.Duration
	set     func(time.Time) error
	armed   bool
	pending int // bytes moved since the deadline was last set
}

func (p *progress) before() {
	if p.set != nil && !p.armed {
		p.armed = true
		_ = p.set(time.Now().Add(p.stall))
	}
}

func (p *progress) moved(n int) {
	if p.pending += n; p.set != nil && p.pending >= ProgressBytes {
		p.pending = 0
		_ = p.set(time.Now().Add(p.stall))
	}
}

// copyBuffers are the buffers bodies are streamed through.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Stream copies r to w through a pooled 256 KiB buffer.
func Stream(w io.Writer, r io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	return io.CopyBuffer(w, r, *bp)
}
