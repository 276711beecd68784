package s3

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
)

// aws-chunked bodies (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html):
//
//	hex-size[;chunk-signature=sig]\r\n <size bytes> \r\n ... 0[;chunk-signature=sig]\r\n
//	[trailer-name:value\r\n ... [x-amz-trailer-signature:sig\r\n]] \r\n
//
// chunkReader decodes one as it streams: it holds no chunk in memory, only
// a header line at a time, and checks each chunk's signature when the
// chunk ends, so a forged chunk fails before the body's io.EOF.
type chunkReader struct {
	r        *bufio.Reader
	signer   *chunkSigner // nil: unsigned chunks
	trailers bool         // trailing headers follow the last chunk

	left     int64     // data bytes left in the current chunk
	sig      string    // the current chunk's claimed signature
	sum      hash.Hash // SHA-256 of the current chunk's data (signed only)
	started  bool
	done     bool
	err      error
	trailer  map[string]string // the trailing headers, lower-case names
	lineBuf  []byte
	trailLen int
}

const (
	maxChunkLine    = 4096     // a chunk header or trailer line
	maxTrailerBytes = 16 << 10 // all trailers
)

var errChunkFormat = errIncompleteBody.withMessage("malformed aws-chunked body")

func newChunkReader(r io.Reader, signer *chunkSigner, trailers bool) *chunkReader {
	c := &chunkReader{r: bufio.NewReaderSize(r, 64<<10), signer: signer, trailers: trailers}
	if signer != nil {
		c.sum = sha256.New()
	}
	return c
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.nextChunk(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.sum != nil {
		c.sum.Write(p[:n])
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		c.err = errIncompleteBody.withMessage("aws-chunked body ended inside a chunk")
		return n, c.err
	}
	return n, nil
}

// nextChunk finishes the chunk that ended (its CRLF and signature) and
// reads the next one's header; after the last chunk it reads the trailers.
func (c *chunkReader) nextChunk() error {
	if c.started {
		if err := c.expectCRLF(); err != nil {
			return err
		}
		if err := c.verifyChunk(); err != nil {
			return err
		}
	}
	c.started = true
	line, err := c.line(true)
	if err != nil {
		return err
	}
	sizeHex, ext, _ := strings.Cut(line, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
	if err != nil || size < 0 {
		return errChunkFormat
	}
	c.sig = ""
	if ext != "" {
		name, val, _ := strings.Cut(ext, "=")
		if strings.TrimSpace(name) == "chunk-signature" {
			c.sig = strings.TrimSpace(val)
		}
	}
	if c.signer != nil && c.sig == "" {
		return errSignatureMismatch.withMessage("chunk without signature")
	}
	c.left = size
	if size > 0 {
		return nil
	}
	// The last chunk: empty, signed like any other.
	if err := c.verifyChunk(); err != nil {
		return err
	}
	c.done = true
	c.trailLen = 0
	return c.readTrailers()
}

func (c *chunkReader) verifyChunk() error {
	if c.signer == nil {
		return nil
	}
	err := c.signer.next(c.sum.Sum(nil), c.sig)
	c.sum.Reset()
	return err
}

// readTrailers reads "name:value" lines up to an empty line (or the end
// of the body). Lines may end in LF alone: minio-go ends each signed
// trailer with "\n" and puts "\r\n" before x-amz-trailer-signature, so
// with a signed trailer empty lines before the signature are skipped.
func (c *chunkReader) readTrailers() error {
	c.trailer = map[string]string{}
	var canonical bytes.Buffer
	signed := c.signer != nil && c.trailers
	trailerSig := ""
	for {
		line, err := c.line(false)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if line == "" {
			if signed && trailerSig == "" {
				continue
			}
			break
		}
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			return errChunkFormat
		}
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.TrimSpace(val)
		if name == "x-amz-trailer-signature" {
			trailerSig = val
			continue
		}
		c.trailer[name] = val
		canonical.WriteString(name + ":" + val + "\n")
	}
	if !c.trailers && len(c.trailer) > 0 {
		return errInvalidArgument.withMessage("trailing headers without x-amz-trailer")
	}
	if signed {
		sum := sha256.Sum256(canonical.Bytes())
		if err := c.signer.trailer(sum[:], trailerSig); err != nil {
			return err
		}
	}
	// Nothing may follow.
	if _, err := c.r.ReadByte(); err != io.EOF {
		return errChunkFormat
	}
	return nil
}

func (c *chunkReader) expectCRLF() error {
	var b [2]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil || b != [2]byte{'\r', '\n'} {
		return errChunkFormat
	}
	return nil
}

// line reads one line, bounded by maxChunkLine, without its CRLF (or,
// unless crlf, a bare LF). io.EOF only when the body ended before the
// line began.
func (c *chunkReader) line(crlf bool) (string, error) {
	c.lineBuf = c.lineBuf[:0]
	for {
		frag, err := c.r.ReadSlice('\n')
		c.lineBuf = append(c.lineBuf, frag...)
		c.trailLen += len(frag)
		if len(c.lineBuf) > maxChunkLine || (c.done && c.trailLen > maxTrailerBytes) {
			return "", errChunkFormat
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && len(c.lineBuf) == 0 {
			return "", io.EOF
		}
		return "", errChunkFormat
	}
	s := string(c.lineBuf)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t, nil
	}
	if crlf {
		return "", errChunkFormat
	}
	return s[:len(s)-1], nil
}
