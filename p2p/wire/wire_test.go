package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/ddsnet/dds/internal/ratelimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := [][]byte{{}, []byte("a"), bytes.Repeat([]byte{0xAB}, 127), bytes.Repeat([]byte{1}, 128), bytes.Repeat([]byte{2}, 70000)}
	for _, m := range msgs {
		if err := WriteMsg(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		got, err := ReadMsg(&buf, 1<<17)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: got %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
	}
	if _, err := ReadMsg(&buf, 0); err != io.EOF {
		t.Fatalf("read at the end: %v, want io.EOF", err)
	}

	type msg struct {
		A string
		B []int
	}
	if err := WriteJSON(&buf, msg{"x", []int{1, 2}}); err != nil {
		t.Fatal(err)
	}
	var m msg
	if err := ReadJSON(&buf, 100, &m); err != nil || m.A != "x" || len(m.B) != 2 {
		t.Fatalf("ReadJSON = %+v, %v", m, err)
	}
	if err := WriteMsg(&buf, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if err := ReadJSON(&buf, 100, &m); err == nil {
		t.Error("ReadJSON of garbage succeeded")
	}
	if err := WriteJSON(&buf, func() {}); err == nil {
		t.Error("WriteJSON of a func succeeded")
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestTooLarge(t *testing.T) {
	hdr := binary.AppendUvarint(nil, 1<<40)
	data := append(hdr, bytes.Repeat([]byte{7}, 100)...)
	cr := &countingReader{r: bytes.NewReader(data)}
	if _, err := ReadMsg(cr, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadMsg of a 1 TiB header: %v, want ErrTooLarge", err)
	}
	if cr.n != len(hdr) {
		t.Errorf("read %d bytes, want only the %d-byte header", cr.n, len(hdr))
	}
	// The refusal allocates a few small objects (the error), never the
	// body. (Counted in bytes with a wide margin: the runtime's counters are
	// the process's, and goroutines left by the tests before, libp2p hosts
	// shutting down, allocate too; a count of allocations failed under load.)
	before := memAlloc()
	for range 10 {
		_, _ = ReadMsg(bytes.NewReader(data), 1<<30)
	}
	after := memAlloc()
	if after-before > 16<<20 {
		t.Errorf("refusing 10 messages of 1 TiB allocated %d bytes", after-before)
	}
	// Exactly at the limit is fine, one over is not.
	var buf bytes.Buffer
	_ = WriteMsg(&buf, make([]byte, 10))
	_ = WriteMsg(&buf, make([]byte, 11))
	if _, err := ReadMsg(&buf, 10); err != nil {
		t.Errorf("message at the limit: %v", err)
	}
	if _, err := ReadMsg(&buf, 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("message over the limit: %v, want ErrTooLarge", err)
	}
}

func memAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func TestTruncatedAndMalformed(t *testing.T) {
	full := binary.AppendUvarint(nil, 300)
	full = append(full, bytes.Repeat([]byte{1}, 300)...)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"half a length", full[:1], io.ErrUnexpectedEOF},
		{"no body", full[:2], io.ErrUnexpectedEOF},
		{"half a body", full[:150], io.ErrUnexpectedEOF},
		{"endless length", bytes.Repeat([]byte{0xff}, 12), ErrMalformed},
		{"length overflows", append(bytes.Repeat([]byte{0xff}, 9), 0x02), ErrMalformed},
	} {
		if _, err := ReadMsg(bytes.NewReader(tc.in), 1000); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzReadMsg(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{3, 'a', 'b', 'c'})
	f.Add([]byte{0x80, 0x01})
	f.Add(bytes.Repeat([]byte{0xff}, 11))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 64
		r := bytes.NewReader(data)
		b, err := ReadMsg(r, limit)
		if err != nil {
			return
		}
		if len(b) > limit {
			t.Fatalf("read %d bytes over the %d limit", len(b), limit)
		}
		var buf bytes.Buffer
		if err := WriteMsg(&buf, b); err != nil {
			t.Fatal(err)
		}
		consumed := len(data) - r.Len()
		again, err := ReadMsg(&buf, limit)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip of %x: %x, %v", b, again, err)
		}
		// The body is what came right after the length, nothing was skipped.
		if !bytes.Equal(data[consumed-len(b):consumed], b) || consumed-len(b) > binary.MaxVarintLen64 {
			t.Fatalf("consumed %x for message %x", data[:consumed], b)
		}
	})
}

func newHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func pair(t testing.TB) (client, server host.Host) {
	t.Helper()
	client, server = newHost(t), newHost(t)
	if err := client.Connect(t.Context(), peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return client, server
}

type echoReq struct {
	Text  string `json:"text"`
	Fail  string `json:"fail,omitempty"`
	Block bool   `json:"block,omitempty"`
}

type echoResp struct {
	Text string  `json:"text"`
	From peer.ID `json:"from"`
}

const echoProto = "/dds/test/echo/1.0.0"

func handleEcho(h host.Host, timeout time.Duration, blocked chan<- error) {
	Handle(h, echoProto, timeout, 1024, func(ctx context.Context, from peer.ID, req echoReq) (echoResp, error) {
		if req.Block {
			<-ctx.Done()
			blocked <- ctx.Err()
			return echoResp{}, ctx.Err()
		}
		if req.Fail != "" {
			return echoResp{}, errors.New(req.Fail)
		}
		return echoResp{Text: req.Text, From: from}, nil
	})
}

func TestCall(t *testing.T) {
	client, server := pair(t)
	blocked := make(chan error, 1)
	handleEcho(server, 500*time.Millisecond, blocked)
	ctx := t.Context()

	var resp echoResp
	if err := Call(ctx, client, server.ID(), echoProto, 10*time.Second, echoReq{Text: "hello"}, &resp, 1024); err != nil {
		t.Fatal(err)
	}
	if resp.Text != "hello" || resp.From != client.ID() {
		t.Errorf("response %+v, want hello from %s", resp, client.ID())
	}

	// A handler's error comes back as a RemoteError.
	err := Call(ctx, client, server.ID(), echoProto, 10*time.Second, echoReq{Fail: "no room"}, &resp, 1024)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "no room" {
		t.Errorf("failing handler: %v, want RemoteError(no room)", err)
	}

	// A request over the handler's limit is refused, with an answer.
	err = Call(ctx, client, server.ID(), echoProto, 10*time.Second, echoReq{Text: strings.Repeat("x", 2000)}, &resp, 1024)
	if !errors.As(err, &re) || !strings.Contains(re.Msg, ErrTooLarge.Error()) {
		t.Errorf("oversized request: %v, want a RemoteError about the size", err)
	}

	// A response over the caller's limit fails the call.
	err = Call(ctx, client, server.ID(), echoProto, 10*time.Second, echoReq{Text: strings.Repeat("x", 500)}, &resp, 100)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized response: %v, want ErrTooLarge", err)
	}

	// An unknown protocol fails to open.
	err = Call(ctx, client, server.ID(), "/dds/test/none/1.0.0", 10*time.Second, echoReq{}, nil, 1024)
	if err == nil || !strings.Contains(err.Error(), "failed to open new stream") {
		t.Errorf("unknown protocol: %v", err)
	}

	// The handler's context and its stream end at its timeout: the caller,
	// with a longer one, sees the stream reset.
	err = Call(ctx, client, server.ID(), echoProto, 20*time.Second, echoReq{Block: true}, &resp, 1024)
	if err == nil || errors.Is(err, ErrDeadline) {
		t.Errorf("blocked handler: %v, want a reset", err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("handler ctx ended with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("handler never saw its deadline")
	}
}

func TestCallDeadline(t *testing.T) {
	client, server := pair(t)
	release := make(chan struct{})
	defer close(release)
	server.SetStreamHandler(echoProto, func(s network.Stream) {
		// Reads the request and never answers.
		_, _ = ReadMsg(s, 1024)
		<-release
		_ = s.Reset()
	})
	done := make(chan error, 1)
	go func() {
		done <- Call(t.Context(), client, server.ID(), echoProto, 300*time.Millisecond, echoReq{Text: "x"}, nil, 1024)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrDeadline) {
			t.Errorf("Call to a silent handler: %v, want ErrDeadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Call did not return after its timeout")
	}

	// A ctx deadline wins over the timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := Call(ctx, client, server.ID(), echoProto, time.Hour, echoReq{Text: "x"}, nil, 1024); !errors.Is(err, ErrDeadline) {
		t.Errorf("Call with a ctx deadline: %v, want ErrDeadline", err)
	}

	// Cancelling ctx ends the call at once.
	ctx, cancel = context.WithCancel(t.Context())
	go func() {
		done <- Call(ctx, client, server.ID(), echoProto, time.Hour, echoReq{Text: "x"}, nil, 1024)
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Call: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Call did not return after cancel")
	}
}

func TestHandlerDeadline(t *testing.T) {
	client, server := pair(t)
	blocked := make(chan error, 1)
	handleEcho(server, 300*time.Millisecond, blocked)
	// A client that opens a stream and never sends: the handler's deadline
	// resets the stream.
	s, err := client.NewStream(t.Context(), server.ID(), echoProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := ReadMsg(s, 1024); err == nil || errors.Is(err, ErrDeadline) {
		t.Errorf("read from a handler past its deadline: %v, want a reset", err)
	}
}

func TestHandlerCancelledOnClose(t *testing.T) {
	client, server := pair(t)
	blocked := make(chan error, 1)
	handleEcho(server, time.Hour, blocked)
	done := make(chan error, 1)
	go func() {
		done <- Call(t.Context(), client, server.ID(), echoProto, time.Hour, echoReq{Block: true}, nil, 1024)
	}()
	// Wait until the handler runs, then close the caller's host.
	deadline := time.Now().Add(30 * time.Second)
	for len(server.Network().ConnsToPeer(client.ID())) == 0 || !streamOpen(server, echoProto) {
		if time.Now().After(deadline) {
			t.Fatal("handler never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = client.Close()
	select {
	case err := <-blocked:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler ctx ended with %v, want Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("handler ctx not cancelled when the peer closed")
	}
	if err := <-done; err == nil {
		t.Error("Call on a closed host succeeded")
	}
}

func streamOpen(h host.Host, proto string) bool {
	for _, c := range h.Network().Conns() {
		for _, s := range c.GetStreams() {
			if string(s.Protocol()) == proto {
				return true
			}
		}
	}
	return false
}

// TestHandlerLimits: with per-peer limits, a peer past its bucket is
// answered ErrRateLimited without the handler running, on kept streams
// (a Client's) too, while another peer still gets answers.
func TestHandlerLimits(t *testing.T) {
	client, server := pair(t)
	other := newHost(t)
	if err := other.Connect(t.Context(), peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	var ran int
	Handle(server, echoProto, time.Second, 1024, func(_ context.Context, from peer.ID, req echoReq) (echoResp, error) {
		ran++
		return echoResp{Text: req.Text, From: from}, nil
	}, WithLimits(ratelimit.New(0.001, 3, 16)))
	c := NewClient(client)
	defer c.Close()
	var resp echoResp
	for i := range 3 {
		if err := c.Call(t.Context(), server.ID(), echoProto, 5*time.Second, echoReq{Text: "hi"}, &resp, 1024); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	err := c.Call(t.Context(), server.ID(), echoProto, 5*time.Second, echoReq{Text: "hi"}, &resp, 1024)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != ErrRateLimited.Error() || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("call past the burst: %v, want %v", err, ErrRateLimited)
	}
	if ran != 3 {
		t.Fatalf("the handler ran %d times, want 3", ran)
	}
	if err := Call(t.Context(), other, server.ID(), echoProto, 5*time.Second, echoReq{Text: "hi"}, &resp, 1024); err != nil {
		t.Fatalf("another peer: %v", err)
	}
}

// A handler's error that wraps a Code reaches the caller as that Code
// (errors.Is), with the message as written; one without a Code matches
// none.
func TestCodedErrors(t *testing.T) {
	client, server := pair(t)
	const errNope Code = "nope"
	Handle(server, "/test/coded", time.Second, 0, func(_ context.Context, _ peer.ID, req echoReq) (echoReq, error) {
		switch req.Text {
		case "plain":
			return echoReq{}, errors.New("plain failure")
		case "with":
			return echoReq{}, WithCode(errNope, errors.New("nope, said once"))
		}
		return echoReq{}, fmt.Errorf("refused %q: %w", req.Text, errNope)
	})
	err := Call(t.Context(), client, server.ID(), "/test/coded", time.Second, echoReq{Text: "x"}, nil, 1024)
	var re *RemoteError
	if !errors.Is(err, errNope) || !errors.As(err, &re) || re.Msg != `refused "x": nope` || errors.Is(err, ErrRateLimited) {
		t.Fatalf("coded refusal: %v", err)
	}
	// WithCode: the code travels, the message is the error's alone.
	err = Call(t.Context(), client, server.ID(), "/test/coded", time.Second, echoReq{Text: "with"}, nil, 1024)
	if !errors.Is(err, errNope) || !errors.As(err, &re) || re.Msg != "nope, said once" {
		t.Fatalf("WithCode refusal: %v", err)
	}
	err = Call(t.Context(), client, server.ID(), "/test/coded", time.Second, echoReq{Text: "plain"}, nil, 1024)
	if !errors.As(err, &re) || errors.Is(err, errNope) || re.Code != "" {
		t.Fatalf("plain refusal: %v", err)
	}
}
