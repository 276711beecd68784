package wire

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// kept returns the streams c keeps for the echo protocol to p.
func kept(c *Client, k idleKey) []network.Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []network.Stream
	for _, is := range c.idle[k] {
		out = append(out, is.s)
	}
	return out
}

func TestClientReusesStreams(t *testing.T) {
	client, server := pair(t)
	blocked := make(chan error, 1)
	handleEcho(server, time.Second, blocked)
	c := NewClient(client)
	defer c.Close()
	k := idleKey{server.ID(), echoProto}
	ctx := t.Context()

	// Calls one after another share one stream, errors from the handler
	// included.
	var first network.Stream
	for i := range 10 {
		var resp echoResp
		req := echoReq{Text: "hello"}
		if i%3 == 2 {
			req = echoReq{Fail: "no room"}
		}
		err := c.Call(ctx, server.ID(), echoProto, 10*time.Second, req, &resp, 1024)
		var re *RemoteError
		switch {
		case req.Fail != "" && (!errors.As(err, &re) || re.Msg != "no room"):
			t.Fatalf("call %d: %v, want RemoteError(no room)", i, err)
		case req.Fail == "" && (err != nil || resp.Text != "hello" || resp.From != client.ID()):
			t.Fatalf("call %d: %+v, %v", i, resp, err)
		}
		ss := kept(c, k)
		if len(ss) != 1 {
			t.Fatalf("call %d: %d streams kept, want 1", i, len(ss))
		}
		if first == nil {
			first = ss[0]
		} else if ss[0] != first {
			t.Fatalf("call %d ran on a new stream", i)
		}
	}

	// An oversized request is answered, then the handler closes the
	// stream (it did not read the body): the next call finds the kept
	// stream closed and makes its request again on a new one.
	var resp echoResp
	err := c.Call(ctx, server.ID(), echoProto, 10*time.Second, echoReq{Text: strings.Repeat("x", 2000)}, &resp, 1024)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, ErrTooLarge.Error()) {
		t.Fatalf("oversized request: %v, want a RemoteError about the size", err)
	}
	if err := c.Call(ctx, server.ID(), echoProto, 10*time.Second, echoReq{Text: "again"}, &resp, 1024); err != nil || resp.Text != "again" {
		t.Fatalf("call after the handler closed the kept stream: %+v, %v", resp, err)
	}
	if ss := kept(c, k); len(ss) != 1 || ss[0] == first {
		t.Fatalf("%d streams kept after the stale one, want 1 new", len(ss))
	}

	// A response over the caller's limit fails the call and its stream is
	// not kept.
	if err := c.Call(ctx, server.ID(), echoProto, 10*time.Second, echoReq{Text: strings.Repeat("x", 500)}, &resp, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized response: %v, want ErrTooLarge", err)
	}
	if ss := kept(c, k); len(ss) != 0 {
		t.Fatalf("%d streams kept after a failed call", len(ss))
	}

	// A call cancelled while the handler works fails with its context's
	// error and its stream is not kept (the handler's context ends at its
	// own timeout).
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = c.Call(cctx, server.ID(), echoProto, 10*time.Second, echoReq{Block: true}, &resp, 1024)
	if !errors.Is(err, ErrDeadline) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled call: %v", err)
	}
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's context did not end")
	}
	if ss := kept(c, k); len(ss) != 0 {
		t.Fatalf("%d streams kept after a cancelled call", len(ss))
	}

	// After Close, calls work and keep nothing.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, server.ID(), echoProto, 10*time.Second, echoReq{Text: "x"}, &resp, 1024); err != nil {
		t.Fatal(err)
	}
	if ss := kept(c, k); len(ss) != 0 {
		t.Fatalf("%d streams kept after Close", len(ss))
	}
}

func TestClientConcurrentCalls(t *testing.T) {
	client, server := pair(t)
	handleEcho(server, 5*time.Second, make(chan error, 1))
	c := NewClient(client)
	defer c.Close()
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 20 {
				var resp echoResp
				text := strings.Repeat("y", g+i)
				if err := c.Call(t.Context(), server.ID(), echoProto, 10*time.Second, echoReq{Text: text}, &resp, 1024); err != nil || resp.Text != text {
					t.Errorf("goroutine %d call %d: %q, %v", g, i, resp.Text, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(kept(c, idleKey{server.ID(), echoProto})); n == 0 || n > maxIdle {
		t.Fatalf("%d streams kept, want 1..%d", n, maxIdle)
	}
}
