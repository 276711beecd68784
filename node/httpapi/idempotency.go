package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/ddsnet/dds/api"
)

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// record is a stored first response to an idempotent request.
type record struct {
	Hash   []byte            `json:"hash"` // sha256 of the request
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
	Body   []byte            `json:"body"`
}

// replayedHeaders are the response headers a replay repeats.
var replayedHeaders = []string{"Content-Type", "Location", "Retry-After"}

// storable says whether a response is kept for replays: successes, 402
// quotes and deterministic refusals. 5xx, 429, 404 (a replica may not have
// caught up yet) and 413/415 are not.
func storable(status int) bool {
	switch {
	case status >= 200 && status < 300:
		return true
	case status == http.StatusBadRequest, status == http.StatusPaymentRequired,
		status == http.StatusConflict, status == http.StatusGone:
		return true
	}
	return false
}

// idempotent runs h under the request's Idempotency-Key, if it has one:
// one request per key at a time; a stored response is replayed for the
// same request (same method, path, query, Content-Type, X-Additional and
// body), and the same key with another request is 409.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, route string, h http.HandlerFunc) {
	keys := r.Header.Values("Idempotency-Key")
	if len(keys) == 0 {
		h(w, r)
		return
	}
	key := keys[0]
	if key == "" || len(key) > maxIdempotencyKey || !printable(key) {
		s.fail(w, r, refuse([]api.Error{fieldError(api.CodeInvalidValue,
			fmt.Sprintf("Idempotency-Key must be 1 to %d printable ASCII characters", maxIdempotencyKey), header("Idempotency-Key"))}))
		return
	}
	ctx := r.Context()
	unlock, err := s.keys.lock(ctx, route+"\x00"+key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer unlock()

	hasher := requestHash(r)
	recKey := "idempotency/" + route + "/" + key
	stored, ok, err := s.cfg.Records.Get(ctx, recKey)
	if err != nil {
		s.fail(w, r, fmt.Errorf("read idempotency record: %w", err))
		return
	}
	if ok {
		var rec record
		if err := json.Unmarshal(stored, &rec); err != nil {
			s.fail(w, r, fmt.Errorf("decode idempotency record: %w", err))
			return
		}
		if _, err := io.Copy(hasher, r.Body); err != nil {
			s.fail(w, r, (&bodyErr{err: err}).failure())
			return
		}
		if !bytes.Equal(hasher.Sum(nil), rec.Hash) {
			s.fail(w, r, &problemsError{status: http.StatusConflict, errs: []api.Error{newError(http.StatusConflict,
				api.CodeIdempotencyKeyReused, "this Idempotency-Key was used with another request", header("Idempotency-Key"))}})
			return
		}
		for k, v := range rec.Header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Length", strconv.Itoa(len(rec.Body)))
		w.WriteHeader(rec.Status)
		_, _ = w.Write(rec.Body)
		return
	}

	body := r.Body
	r.Body = teeBody{r: body, w: hasher}
	rec := &recorder{header: http.Header{}}
	h(rec, r)
	// The hash covers the whole body, read or not by the handler.
	_, drainErr := io.Copy(io.Discard, r.Body)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if drainErr == nil && storable(rec.status) {
		out := record{Hash: hasher.Sum(nil), Status: rec.status, Header: map[string]string{}, Body: rec.body.Bytes()}
		for _, k := range replayedHeaders {
			if v := rec.header.Get(k); v != "" {
				out.Header[k] = v
			}
		}
		b, err := json.Marshal(out)
		if err == nil {
			err = s.cfg.Records.Put(ctx, recKey, b)
		}
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "store idempotency record", slog.String("key", recKey), slog.Any("err", err))
		}
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestHash starts the hash of a request with everything but its body.
func requestHash(r *http.Request) hash.Hash {
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("X-Additional")} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return h
}

// teeBody hashes a request body as it is read.
type teeBody struct {
	r io.ReadCloser
	w io.Writer
}

func (t teeBody) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.w.Write(p[:n])
	}
	return n, err
}

func (t teeBody) Close() error { return t.r.Close() }

// recorder keeps a response (a small document) until the request has
// been hashed and the response stored.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rc *recorder) Header() http.Header { return rc.header }
func (rc *recorder) WriteHeader(code int) {
	if rc.status == 0 {
		rc.status = code
	}
}
func (rc *recorder) Write(p []byte) (int, error) {
	if rc.status == 0 {
		rc.status = http.StatusOK
	}
	return rc.body.Write(p)
}

// keyLocks serializes requests with the same idempotency key.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{}
	refs int
}

func newKeyLocks() *keyLocks { return &keyLocks{m: make(map[string]*keyLock)} }

// lock takes the key's lock, or fails when ctx ends first.
func (k *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	l, ok := k.m[key]
	if !ok {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, fmt.Errorf("wait for idempotency key: %w", ctx.Err())
	}
}
