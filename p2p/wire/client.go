package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Bounds on a [Client]'s idle streams.
const (
	// maxIdle is how many idle streams a Client keeps to one peer for one
	// protocol.
	maxIdle = 16
	// idleKeep is how long a Client keeps an idle stream: well within the
	// handler's idleTimeout, so a kept stream is still served.
	idleKeep = idleTimeout / 2
)

// Client makes calls like [Call], but keeps each stream open after its call
// and makes the next call to the same peer and protocol on it: no stream
// set-up, protocol negotiation or resource-manager accounting per call,
// which under many concurrent calls was where the time went (a quote makes
// four). A call that finds its kept stream closed by the handler (idle too
// long) makes it again on a new stream; any other failure is the call's.
// Create it with [NewClient], stop it with [Client.Close].
type Client struct {
	h host.Host

	mu     sync.Mutex
	idle   map[idleKey][]idleStream
	closed bool
}

type idleKey struct {
	p     peer.ID
	proto protocol.ID
}

type idleStream struct {
	s     network.Stream
	since time.Time
}

// NewClient returns a client making calls from h.
func NewClient(h host.Host) *Client {
	return &Client{h: h, idle: map[idleKey][]idleStream{}}
}

// Call makes one request of proto to p and reads its response into resp,
// as [Call] does, on a kept stream when there is one.
func (c *Client) Call(ctx context.Context, p peer.ID, proto protocol.ID, timeout time.Duration, req, resp any, maxResp int) error {
	if _, ok := ctx.Deadline(); !ok && timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode request of %s: %w", proto, err)
	}
	k := idleKey{p, proto}
	for {
		s := c.take(k)
		kept := s != nil
		if s == nil {
			if s, err = c.h.NewStream(ctx, p, proto); err != nil {
				return fmt.Errorf("failed to open new stream: %w", withCause(ctx, classify(err)))
			}
		}
		r, err := c.exchange(ctx, s, body, maxResp)
		if errors.Is(err, errStale) && kept {
			continue // closed by the handler while kept: the request was not read
		}
		if err != nil {
			return fmt.Errorf("%s to %s: %w", proto, p, err)
		}
		c.put(k, s)
		return r.decode(resp, proto, p)
	}
}

// errStale reports a kept stream the handler had closed before the
// request: io.EOF where the response's first byte should be.
var errStale = errors.New("stream closed by the handler")

// exchange writes one request on s and reads its response, under ctx's
// deadline. On failure s is reset.
func (c *Client) exchange(ctx context.Context, s network.Stream, body []byte, maxResp int) (reply, error) {
	reset := context.AfterFunc(ctx, func() { _ = s.Reset() })
	fail := func(what string, err error) (reply, error) {
		reset()
		_ = s.Reset()
		return reply{}, fmt.Errorf("%s: %w", what, withCause(ctx, err))
	}
	if dl, ok := ctx.Deadline(); ok {
		if err := s.SetDeadline(dl); err != nil {
			return fail("set stream deadline", err)
		}
	}
	if err := WriteMsg(s, body); err != nil {
		return fail("failed to write request", classify(err))
	}
	var r reply
	if err := ReadJSON(s, maxResp, &r); err != nil {
		if errors.Is(err, io.EOF) && ctx.Err() == nil {
			err = errStale
		}
		return fail("failed to read response", err)
	}
	if !reset() {
		return reply{}, fmt.Errorf("read response: %w", withCause(ctx, context.Canceled))
	}
	_ = s.SetDeadline(time.Time{})
	return r, nil
}

// take returns a kept stream for k, or nil. Streams kept too long are
// closed on the way.
func (c *Client) take(k idleKey) network.Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	ss := c.idle[k]
	for len(ss) > 0 {
		is := ss[len(ss)-1]
		ss = ss[:len(ss)-1]
		if time.Since(is.since) < idleKeep && !is.s.Conn().IsClosed() {
			c.setIdle(k, ss)
			return is.s
		}
		_ = is.s.Reset()
	}
	c.setIdle(k, ss)
	return nil
}

// put keeps s for the next call, or closes it when the client keeps enough
// (or is closed).
func (c *Client) put(k idleKey, s network.Stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ss := c.idle[k]
	if c.closed || len(ss) >= maxIdle {
		_ = s.Close()
		return
	}
	// Drop the streams kept too long (oldest first).
	for len(ss) > 0 && time.Since(ss[0].since) >= idleKeep {
		_ = ss[0].s.Reset()
		ss = ss[1:]
	}
	c.setIdle(k, append(ss, idleStream{s, time.Now()}))
}

func (c *Client) setIdle(k idleKey, ss []idleStream) {
	if len(ss) == 0 {
		delete(c.idle, k)
		return
	}
	c.idle[k] = ss
}

// Close closes the kept streams; later calls still work but keep none.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for k, ss := range c.idle {
		for _, is := range ss {
			_ = is.s.Close()
		}
		delete(c.idle, k)
	}
	return nil
}
