package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// addrNetwork is the net.Addr network name of stream addresses.
const addrNetwork = "libp2p"

// peerAddr is a [net.Addr] naming a peer by its id.
type peerAddr peer.ID

func (a peerAddr) Network() string { return addrNetwork }
func (a peerAddr) String() string  { return peer.ID(a).String() }

// streamLayer is a net.Listener and dialer over libp2p streams of one
// protocol; it implements raft.StreamLayer with peer id strings as addresses.
type streamLayer struct {
	host  host.Host
	proto protocol.ID

	ctx      context.Context // cancelled by Close: stops Accept, Dial and handlers
	cancel   context.CancelFunc
	incoming chan network.Stream
	onClose  func()

	mu    sync.Mutex
	conns map[*streamConn]struct{}

	closeOnce sync.Once
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(h host.Host, proto protocol.ID) *streamLayer {
	ctx, cancel := context.WithCancel(context.Background())
	return &streamLayer{
		host:     h,
		proto:    proto,
		ctx:      ctx,
		cancel:   cancel,
		incoming: make(chan network.Stream),
		conns:    make(map[*streamConn]struct{}),
	}
}

// handle is the libp2p stream handler: it hands the stream to Accept, or
// resets it once the layer is closed.
func (l *streamLayer) handle(s network.Stream) {
	select {
	case l.incoming <- s:
	case <-l.ctx.Done():
		_ = s.Reset()
	}
}

// Accept waits for the next inbound stream and returns it as a net.Conn.
// After Close it returns net.ErrClosed.
func (l *streamLayer) Accept() (net.Conn, error) {
	select {
	case s := <-l.incoming:
		c, ok := l.track(s)
		if !ok {
			_ = s.Reset()
			return nil, net.ErrClosed
		}
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Dial opens a stream to the peer whose id string is address.
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.ctx.Err() != nil {
		return nil, net.ErrClosed
	}
	id, err := peer.Decode(string(address))
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", address, err)
	}
	if id == l.host.ID() {
		return nil, fmt.Errorf("dial %s: %w", id, ErrSelfDial)
	}
	ctx := l.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	s, err := l.host.NewStream(ctx, id, l.proto)
	if err != nil {
		return nil, fmt.Errorf("failed to open new stream to %s: %w", id, err)
	}
	c, ok := l.track(s)
	if !ok {
		_ = s.Reset()
		return nil, net.ErrClosed
	}
	return c, nil
}

// Addr returns the host's own peer id as the listener's address.
func (l *streamLayer) Addr() net.Addr { return peerAddr(l.host.ID()) }

// Close stops accepting, removes the stream handler and resets every stream
// the layer handed out. It is idempotent.
func (l *streamLayer) Close() error {
	l.closeOnce.Do(func() {
		l.shutdown()
		if l.onClose != nil {
			l.onClose()
		}
	})
	return nil
}

func (l *streamLayer) shutdown() {
	l.cancel()
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		_ = c.Stream.Reset()
	}
}

func (l *streamLayer) track(s network.Stream) (*streamConn, bool) {
	c := &streamConn{Stream: s, layer: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		return nil, false
	}
	l.conns[c] = struct{}{}
	return c, true
}

func (l *streamLayer) untrack(c *streamConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// streamConn is a libp2p stream as a net.Conn. Reads, writes and deadlines
// are the stream's own.
type streamConn struct {
	network.Stream
	layer *streamLayer
}

var _ net.Conn = (*streamConn)(nil)

func (c *streamConn) LocalAddr() net.Addr  { return peerAddr(c.Stream.Conn().LocalPeer()) }
func (c *streamConn) RemoteAddr() net.Addr { return peerAddr(c.Stream.Conn().RemotePeer()) }

// Read reads from the stream. A stream reset (by either side, including
// this layer's Close) reads as the end of the stream: for Raft's transport
// both mean the peer connection is over, and neither is worth an error log.
func (c *streamConn) Read(p []byte) (int, error) {
	n, err := c.Stream.Read(p)
	if err != nil && (errors.Is(err, network.ErrReset) || c.layer.ctx.Err() != nil) {
		err = io.EOF
	}
	return n, err
}

// Close closes the stream both ways and forgets it.
func (c *streamConn) Close() error {
	c.layer.untrack(c)
	return c.Stream.Close()
}
