package wire

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ddsnet/dds/internal/ratelimit"
)

// DefaultMaxMessage is the size limit [ReadMsg] applies when given none.
const DefaultMaxMessage = 1 << 20

var (
	// ErrTooLarge reports a message longer than the reader's limit.
	ErrTooLarge = errors.New("message too large")
	// ErrDeadline reports a stream that ran past its deadline.
	ErrDeadline = errors.New("stream deadline exceeded")
	// ErrMalformed reports a message length that is not a valid uvarint.
	ErrMalformed = errors.New("malformed message length")
)

// ErrRateLimited is the answer to a request over its peer's limit (see
// [WithLimits]); the caller's [*RemoteError] matches it.
const ErrRateLimited Code = "rate limited: too many requests from this peer"

// RemoteError is an error the remote handler returned, as the caller of
// [Call] receives it. Code is the [Code] the handler's error carried, if
// any: errors.Is(err, c) holds for that Code c, so a caller tells the
// handler's refusals apart by value, not by the text of Msg.
type RemoteError struct {
	Msg  string
	Code Code
}

func (e *RemoteError) Error() string { return "remote error: " + e.Msg }

// Is reports whether target is the Code e carries.
func (e *RemoteError) Is(target error) bool {
	c, ok := target.(Code)
	return ok && e.Code != "" && c == e.Code
}

// Code is an error a handler sends by name: a protocol declares its
// refusals as Codes (var ErrX = wire.Code("x")), its handler returns one
// (wrapped with detail, as any error), and the caller's [*RemoteError]
// matches it with errors.Is. A Code is a short stable name; it is part of
// the protocol.
type Code string

func (c Code) Error() string { return string(c) }

// WithCode returns err carrying code: its message is err's alone (not the
// code's twice over where err already says it), and errors.Is finds both
// code and what err wraps.
func WithCode(code Code, err error) error { return codedError{code, err} }

type codedError struct {
	code Code
	err  error
}

func (e codedError) Error() string   { return e.err.Error() }
func (e codedError) Unwrap() []error { return []error{e.code, e.err} }

// WriteMsg writes b as one message: its length as a uvarint, then the
// bytes, in a single write.
func WriteMsg(w io.Writer, b []byte) error {
	buf := make([]byte, 0, binary.MaxVarintLen64+len(b))
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	buf = append(buf, b...)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write message: %w", classify(err))
	}
	return nil
}

// ReadMsg reads one message written by [WriteMsg]. A length over max (or
// over [DefaultMaxMessage] when max <= 0) fails with [ErrTooLarge] before
// any buffer is allocated for it, and without reading the body. A stream
// that ends cleanly before the message returns io.EOF; one that ends inside
// it returns io.ErrUnexpectedEOF.
func ReadMsg(r io.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxMessage
	}
	n, err := readUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read message length: %w", err)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("read message: %w: %d bytes, limit %d", ErrTooLarge, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read message: %w", classify(err))
	}
	return b, nil
}

// readUvarint reads a uvarint one byte at a time, so that it never consumes
// bytes past the length. io.EOF means no byte at all was there.
func readUvarint(r io.Reader) (uint64, error) {
	var (
		x     uint64
		s     uint
		one   [1]byte
		first = true
	)
	for i := range binary.MaxVarintLen64 {
		if _, err := io.ReadFull(r, one[:]); err != nil {
			if errors.Is(err, io.EOF) && !first {
				err = io.ErrUnexpectedEOF
			}
			return 0, classify(err)
		}
		first = false
		b := one[0]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, ErrMalformed
			}
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, ErrMalformed
}

// WriteJSON writes the JSON encoding of v as one message.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	return WriteMsg(w, b)
}

// ReadJSON reads one message of at most max bytes (see [ReadMsg]) and
// decodes its JSON into v.
func ReadJSON(r io.Reader, max int, v any) error {
	b, err := ReadMsg(r, max)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode message: %w", err)
	}
	return nil
}

// classify marks timeouts with [ErrDeadline], keeping the original error.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrDeadline) {
		return err
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", ErrDeadline, err)
	}
	return err
}

// withCause adds ctx's cause to err when ctx has ended, so that a cancelled
// call reads as context.Canceled and an expired one as [ErrDeadline].
func withCause(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if cause == nil || errors.Is(err, cause) {
		return err
	}
	if errors.Is(err, ErrDeadline) && errors.Is(cause, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", classify(cause), err)
}

// reply is the response frame of [Call] and [Handle]: the handler's result,
// or its error as {"error":"..."}.
type reply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Code   Code            `json:"code,omitempty"` // the Code the error carried
}

// Call makes one request on a new stream of proto to p: it sends req as
// JSON, reads one response of at most maxResp bytes into resp (which may be
// nil to discard it) and closes the stream. The stream's deadline is ctx's,
// or timeout from now when ctx has none; cancelling ctx resets the stream.
// An error the handler returned comes back as a [*RemoteError]; a stream
// past its deadline fails with [ErrDeadline].
func Call(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID, timeout time.Duration, req, resp any, maxResp int) error {
	if _, ok := ctx.Deadline(); !ok && timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	s, err := h.NewStream(ctx, p, proto)
	if err != nil {
		return fmt.Errorf("failed to open new stream: %w", withCause(ctx, classify(err)))
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		if err := s.SetDeadline(dl); err != nil {
			_ = s.Reset()
			return fmt.Errorf("set stream deadline: %w", err)
		}
	}
	fail := func(what string, err error) error {
		_ = s.Reset()
		return fmt.Errorf("%s %s to %s: %w", what, proto, p, withCause(ctx, err))
	}
	if err := WriteJSON(s, req); err != nil {
		return fail("failed to write request", err)
	}
	if err := s.CloseWrite(); err != nil {
		return fail("failed to close request", classify(err))
	}
	var r reply
	if err := ReadJSON(s, maxResp, &r); err != nil {
		return fail("failed to read response", err)
	}
	_ = s.Close()
	return r.decode(resp, proto, p)
}

// decode returns the handler's error as a [*RemoteError], or decodes its
// result into resp (nil: discarded).
func (r reply) decode(resp any, proto protocol.ID, p peer.ID) error {
	if r.Error != "" {
		return &RemoteError{Msg: r.Error, Code: r.Code}
	}
	if resp != nil && len(r.Result) > 0 {
		if err := json.Unmarshal(r.Result, resp); err != nil {
			return fmt.Errorf("decode response of %s from %s: %w", proto, p, err)
		}
	}
	return nil
}

// Handle registers fn as the handler of proto on h. A stream carries
// requests one after another: the first must arrive within timeout of the
// stream's start, each later one within a minute of the answer before it
// (a [Client] keeps streams for its next calls; [Call] closes its side
// after one). Each request (at most maxReq bytes, or [DefaultMaxMessage]
// when maxReq <= 0) is decoded into a new Req and fn is called with a
// context that ends timeout after the request arrived, or when the
// connection closes (the peer went away, or the host closed). fn's result
// is written back as the response; its error as {"error":"..."}, which the
// caller receives as a [*RemoteError]. A request that does not decode is
// answered with an error too; one that is too large is answered with
// [ErrTooLarge] and ends the stream.
func Handle[Req, Resp any](h host.Host, proto protocol.ID, timeout time.Duration, maxReq int, fn func(ctx context.Context, from peer.ID, req Req) (Resp, error), opts ...HandlerOption) {
	h.SetStreamHandler(proto, Handler(h, timeout, maxReq, fn, opts...))
}

// Handler is the stream handler [Handle] registers, for a host that
// registers it another way.
func Handler[Req, Resp any](h host.Host, timeout time.Duration, maxReq int, fn func(ctx context.Context, from peer.ID, req Req) (Resp, error), opts ...HandlerOption) network.StreamHandler {
	var o handlerOptions
	for _, opt := range opts {
		opt(&o)
	}
	return func(s network.Stream) {
		serve(h, s, timeout, maxReq, o.limits, fn)
	}
}

// HandlerOption adjusts a handler [Handle] registers.
type HandlerOption func(*handlerOptions)

type handlerOptions struct {
	limits *ratelimit.Table
}

// WithLimits bounds how many requests each peer may make: a request over
// its peer's bucket in limits (keyed by peer) is answered with
// [ErrRateLimited] without running the handler. Handlers that share a
// table share each peer's budget.
func WithLimits(limits *ratelimit.Table) HandlerOption {
	return func(o *handlerOptions) { o.limits = limits }
}

// idleTimeout is how long a handler's stream waits for the next request
// after answering one (a [Client] keeps streams for reuse) before it is
// closed.
const idleTimeout = time.Minute

func serve[Req, Resp any](h host.Host, s network.Stream, timeout time.Duration, maxReq int, limits *ratelimit.Table, fn func(ctx context.Context, from peer.ID, req Req) (Resp, error)) {
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	// The handlers' contexts end with the stream's connection.
	conn := s.Conn()
	nb := &network.NotifyBundle{DisconnectedF: func(_ network.Network, c network.Conn) {
		if c == conn {
			scancel()
		}
	}}
	h.Network().Notify(nb)
	defer h.Network().StopNotify(nb)
	if conn.IsClosed() {
		scancel()
	}

	// Requests one after another: the first within the timeout from the
	// stream's start, each later one within idleTimeout of the answer
	// before it (a caller that made one call closes its side, read here as
	// io.EOF).
	wait := timeout
	for {
		if wait > 0 {
			_ = s.SetDeadline(time.Now().Add(wait))
		}
		wait = idleTimeout
		b, err := ReadMsg(s, maxReq)
		if errors.Is(err, io.EOF) {
			_ = s.Close()
			return
		}
		if err != nil && !errors.Is(err, ErrTooLarge) {
			_ = s.Reset()
			return
		}
		ctx, cancel := sctx, context.CancelFunc(func() {})
		if timeout > 0 {
			ctx, cancel = context.WithTimeout(sctx, timeout)
			_ = s.SetDeadline(time.Now().Add(timeout))
		}
		tooLarge := err != nil
		var out reply
		if ok, _ := limitsAllow(limits, conn.RemotePeer()); ok {
			out = handleOne(ctx, conn.RemotePeer(), b, tooLarge, fn)
		} else {
			out.Error, out.Code = ErrRateLimited.Error(), ErrRateLimited
		}
		cancel()
		if err := WriteJSON(s, out); err != nil {
			_ = s.Reset()
			return
		}
		if tooLarge {
			// The request's body was not read: the stream cannot go on.
			_ = s.Close()
			return
		}
	}
}

// limitsAllow takes a token of p's bucket in limits (nil: no limit).
func limitsAllow(limits *ratelimit.Table, p peer.ID) (bool, time.Duration) {
	if limits == nil {
		return true, 0
	}
	return limits.Allow(string(p), time.Now())
}

// handleOne decodes a request and runs fn on it; a request over the size
// limit (tooLarge) is answered with ErrTooLarge.
func handleOne[Req, Resp any](ctx context.Context, from peer.ID, b []byte, tooLarge bool, fn func(ctx context.Context, from peer.ID, req Req) (Resp, error)) reply {
	var out reply
	if tooLarge {
		out.Error = ErrTooLarge.Error()
		return out
	}
	var req Req
	if err := json.Unmarshal(b, &req); err != nil {
		out.Error = "decode request: " + err.Error()
		return out
	}
	resp, err := fn(ctx, from, req)
	if err != nil {
		out.Error = err.Error()
		if out.Error == "" {
			out.Error = "error"
		}
		var code Code
		if errors.As(err, &code) {
			out.Code = code
		}
		return out
	}
	if out.Result, err = json.Marshal(resp); err != nil {
		out.Error = "encode response: " + err.Error()
	}
	return out
}
