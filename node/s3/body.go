package s3

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// checksums are the x-amz-checksum-* algorithms, by the name in the header.
var checksums = map[string]func() hash.Hash{
	"crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"crc64nvme": func() hash.Hash { return crc64.New(crc64NVME) },
	"sha1":      sha1.New,
	"sha256":    sha256.New,
}

// crc64NVME is the table of CRC-64/NVME (reflected polynomial).
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// body is a request body as the Backend reads it: exactly size decoded
// bytes, hashed as they pass (MD5 for the ETag, and whatever the request
// asks to be checked), then io.EOF once every check passed, or the failed
// check's error instead. It never holds more than a few blocks.
type body struct {
	src    io.Reader
	chunks *chunkReader // the aws-chunked decoder, for its trailers; nil if none
	size   int64
	n      int64

	md5     *asyncHash
	sha     *asyncHash // x-amz-content-sha256 given as hex
	ck      *asyncHash // x-amz-checksum-*
	ckName  string
	ckWant  string // base64; "" when it comes as a trailer
	wantMD5 []byte // Content-MD5
	wantSHA []byte

	cur      *block
	err      error // sticky: what Read returns once a check failed
	verified bool
	etag     string
	ckValue  string // the computed checksum, base64, once verified
	closed   bool
}

// openBody prepares r's body for reading with the checks its headers and
// signature ask for. maxSize bounds the decoded size.
func openBody(r *http.Request, id *identity, maxSize int64) (*body, error) {
	b := &body{src: r.Body}
	if r.Body == nil {
		b.src = http.NoBody
	}
	payload := id.payload
	if strings.HasPrefix(payload, "STREAMING-") {
		dl := r.Header.Get("X-Amz-Decoded-Content-Length")
		if dl == "" {
			return nil, errMissingContentLength.withMessage("aws-chunked bodies need x-amz-decoded-content-length")
		}
		if _, err := fmt.Sscan(dl, &b.size); err != nil || b.size < 0 {
			return nil, errInvalidArgument.withMessage("invalid x-amz-decoded-content-length")
		}
		var signer *chunkSigner
		if payload != streamingUnsignedTrailer {
			signer = id.signer
		}
		trailers := payload != streamingSigned
		b.chunks = newChunkReader(b.src, signer, trailers)
		b.src = b.chunks
	} else {
		if r.ContentLength < 0 {
			return nil, errMissingContentLength
		}
		b.size = r.ContentLength
		if payload != unsignedPayload {
			want, _ := hex.DecodeString(payload)
			b.wantSHA = want
			b.sha = newAsyncHash(sha256.New())
		}
	}
	if b.size > maxSize {
		return nil, errEntityTooLarge
	}
	if v := r.Header.Get("Content-Md5"); v != "" {
		sum, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(sum) != md5.Size {
			return nil, errInvalidDigest
		}
		b.wantMD5 = sum
	}
	if err := b.setChecksum(r); err != nil {
		return nil, err
	}
	b.md5 = newAsyncHash(md5.New())
	return b, nil
}

// setChecksum finds the one x-amz-checksum-* the request asks to check,
// in a header or announced as a trailer.
func (b *body) setChecksum(r *http.Request) error {
	for name := range checksums {
		if v := r.Header.Get("X-Amz-Checksum-" + name); v != "" {
			if b.ckName != "" {
				return errInvalidRequest.withMessage("Expecting a single x-amz-checksum- header")
			}
			b.ckName, b.ckWant = name, v
		}
	}
	if t := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer"))); t != "" {
		name, ok := strings.CutPrefix(t, "x-amz-checksum-")
		if _, known := checksums[name]; !ok || !known || b.chunks == nil || b.ckName != "" {
			return errInvalidRequest.withMessage("unsupported x-amz-trailer " + t)
		}
		b.ckName = name
	}
	if b.ckName != "" {
		b.ck = newAsyncHash(checksums[b.ckName]())
	}
	return nil
}

func (b *body) hashes() []*asyncHash {
	hs := []*asyncHash{b.md5}
	if b.sha != nil {
		hs = append(hs, b.sha)
	}
	if b.ck != nil {
		hs = append(hs, b.ck)
	}
	return hs
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.verified {
		return 0, io.EOF
	}
	if b.n == b.size {
		if err := b.finish(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if left := b.size - b.n; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.src.Read(p)
	b.feed(p[:n])
	b.n += int64(n)
	if b.n == b.size {
		// The last byte: check everything now, so that even a Backend
		// that stops reading at Size bytes sees a failed check.
		if ferr := b.finish(); ferr != nil {
			return n, ferr
		}
		return n, io.EOF
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		b.fail(errIncompleteBody)
	default:
		var ae *apiError
		if errors.As(err, &ae) {
			b.fail(ae)
		} else {
			b.fail(fmt.Errorf("read request body: %w", err))
		}
	}
	return n, b.err
}

// fail records the body's error and stops the hashers.
func (b *body) fail(err error) {
	if b.err == nil {
		b.err = err
	}
	b.Close()
}

// feed copies p into blocks handed to the hashers, which run on their own
// goroutines while the Backend stores the bytes.
func (b *body) feed(p []byte) {
	for len(p) > 0 {
		if b.cur == nil {
			b.cur = blocks.Get().(*block)
			b.cur.n = 0
		}
		k := copy(b.cur.buf[b.cur.n:], p)
		b.cur.n += k
		p = p[k:]
		if b.cur.n == len(b.cur.buf) {
			b.dispatch()
		}
	}
}

func (b *body) dispatch() {
	blk := b.cur
	b.cur = nil
	hs := b.hashes()
	blk.refs.Store(int32(len(hs)))
	for _, h := range hs {
		h.send(blk)
	}
}

// finish drains the source (an aws-chunked body's last chunk and
// trailers), waits for the hashers and compares every digest.
func (b *body) finish() error {
	var one [1]byte
	for {
		n, err := b.src.Read(one[:])
		if n > 0 {
			b.fail(errIncompleteBody.withMessage("the body is longer than its declared length"))
			return b.err
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = errIncompleteBody
			}
			b.fail(ae)
			return b.err
		}
	}
	if b.cur != nil && b.cur.n > 0 {
		b.dispatch()
	}
	b.closeHashes()
	sum := b.md5.sum()
	if b.wantMD5 != nil && !bytes.Equal(sum, b.wantMD5) {
		b.err = errBadDigest
		return b.err
	}
	if b.sha != nil && !bytes.Equal(b.sha.sum(), b.wantSHA) {
		b.err = errContentSHA256Mismatch
		return b.err
	}
	if b.ck != nil {
		want := b.ckWant
		if want == "" && b.chunks != nil {
			want = b.chunks.trailer["x-amz-checksum-"+b.ckName]
		}
		got := base64.StdEncoding.EncodeToString(b.ck.sum())
		if want != got {
			b.err = errBadDigest.withMessage(fmt.Sprintf("The %s you specified did not match the calculated checksum.", b.ckName))
			return b.err
		}
		b.ckValue = got
	}
	b.etag = hex.EncodeToString(sum)
	b.verified = true
	return nil
}

func (b *body) closeHashes() {
	if b.closed {
		return
	}
	b.closed = true
	for _, h := range b.hashes() {
		h.close()
	}
}

// Close stops the hashers; the Backend need not call it (the handler does).
func (b *body) Close() error {
	if b.cur != nil {
		blocks.Put(b.cur)
		b.cur = nil
	}
	b.closeHashes()
	return nil
}

// ETag is the hex MD5 of the body once verified.
func (b *body) ETag() string { return b.etag }

// input is the ObjectInput the Backend gets.
func (b *body) input(meta Meta) ObjectInput {
	return ObjectInput{Body: b, Size: b.size, Meta: meta, etag: b.ETag}
}

// checksumHeader is the verified x-amz-checksum-* header to echo back.
func (b *body) checksumHeader() (name, value string) {
	if b.ckValue == "" {
		return "", ""
	}
	return "X-Amz-Checksum-" + strings.ToUpper(b.ckName[:1]) + b.ckName[1:], b.ckValue
}

// blockSize is the unit handed to the hashers: large enough that the
// channel hand-off is small next to hashing it, small because each body
// holds up to hashQueue+2 of them and aws-cli sends 10 parts at once.
const blockSize = 64 << 10

type block struct {
	buf  []byte
	n    int
	refs atomic.Int32
}

var blocks = sync.Pool{New: func() any { return &block{buf: make([]byte, blockSize)} }}

func (blk *block) release() {
	if blk.refs.Add(-1) == 0 {
		blocks.Put(blk)
	}
}

// asyncHash hashes blocks on a goroutine of its own, started with the
// first full block: a small body is hashed on the caller's goroutine at
// the end instead. At most hashQueue blocks wait for it.
type asyncHash struct {
	h      hash.Hash
	ch     chan *block
	done   chan struct{}
	closed bool
}

const hashQueue = 4

func newAsyncHash(h hash.Hash) *asyncHash { return &asyncHash{h: h} }

func (a *asyncHash) send(blk *block) {
	if blk.n < blockSize && a.ch == nil {
		// Only the last, partial block comes this way: hash it here.
		a.h.Write(blk.buf[:blk.n])
		blk.release()
		return
	}
	if a.ch == nil {
		a.ch = make(chan *block, hashQueue)
		a.done = make(chan struct{})
		go a.run()
	}
	a.ch <- blk
}

func (a *asyncHash) run() {
	defer close(a.done)
	for blk := range a.ch {
		a.h.Write(blk.buf[:blk.n])
		blk.release()
	}
}

// close ends the goroutine and waits for it.
func (a *asyncHash) close() {
	if a.closed {
		return
	}
	a.closed = true
	if a.ch != nil {
		close(a.ch)
		<-a.done
	}
}

func (a *asyncHash) sum() []byte { return a.h.Sum(nil) }

// newBody wraps bytes the handler reads itself (UploadPartCopy's source)
// so the Backend gets them as any body: sized, MD5 computed.
func newBody(src io.Reader, size int64) *body {
	return &body{src: src, size: size, md5: newAsyncHash(md5.New())}
}
