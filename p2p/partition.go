package p2p

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// Membership tells who belongs to the network: the host serves its
// protocols to members only (see [Host.SetMembership]).
type Membership interface {
	IsMember(peer.ID) bool
}

// Probation is how long a connection from a peer that is not a member
// stays open: long enough to present an invite on an open protocol (the
// ledger's join) and be admitted, after which it is a member's.
const Probation = 10 * time.Second

// maxProbation bounds the inbound connections of non-members open at once;
// more are refused at the handshake.
const maxProbation = 32

// gate is the host's connection gater and the membership check that every
// stream handler goes through. Until a Membership is set every peer is
// let in (a host on its own, in tests of the protocols); from then on:
//   - a stream of any protocol but the open ones ([Host.HandleOpen]) from
//     a non-member is reset before its handler sees it (gatedHost);
//   - an inbound connection from a non-member is accepted while fewer than
//     maxProbation are, and closed after Probation unless the peer became
//     a member meanwhile;
//   - the DHT keeps members only in its routing table.
//
// It also cuts the host off from every peer when a test isolates it
// ([Host.SetIsolated]) to simulate a partition.
type gate struct {
	isolated  atomic.Bool
	members   atomic.Pointer[Membership]
	probation time.Duration // Probation; tests shorten it
	maxTrial  int           // maxProbation; tests lower it
	refused   atomic.Int64  // streams and connections refused to non-members

	mu      sync.Mutex
	onTrial map[network.Conn]*time.Timer // inbound connections of non-members
	closed  bool
}

// allowed reports whether p may use the host's protocols.
func (g *gate) allowed(p peer.ID) bool {
	m := g.members.Load()
	return m == nil || (*m).IsMember(p)
}

func (g *gate) InterceptPeerDial(peer.ID) bool               { return !g.isolated.Load() }
func (g *gate) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return !g.isolated.Load() }
func (g *gate) InterceptAccept(network.ConnMultiaddrs) bool  { return !g.isolated.Load() }

// InterceptSecured refuses an inbound connection from a non-member when
// maxProbation of them are open already.
func (g *gate) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	if g.isolated.Load() {
		return false
	}
	if dir != network.DirInbound || g.allowed(p) {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	limit := g.maxTrial
	if limit <= 0 {
		limit = maxProbation
	}
	if len(g.onTrial) >= limit {
		g.refused.Add(1)
		return false
	}
	return true
}

// InterceptUpgraded puts an inbound connection from a non-member on
// probation.
func (g *gate) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if g.isolated.Load() {
		return false, 0
	}
	if c.Stat().Direction == network.DirInbound && !g.allowed(c.RemotePeer()) {
		g.onProbation(c)
	}
	return true, 0
}

func (g *gate) onProbation(c network.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	if g.onTrial == nil {
		g.onTrial = make(map[network.Conn]*time.Timer)
	}
	wait := g.probation
	if wait <= 0 {
		wait = Probation
	}
	g.onTrial[c] = time.AfterFunc(wait, func() {
		g.mu.Lock()
		delete(g.onTrial, c)
		closed := g.closed
		g.mu.Unlock()
		if !closed && !g.allowed(c.RemotePeer()) {
			g.refused.Add(1)
			_ = c.Close()
		}
	})
}

// close stops the probation timers (the host is closing).
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for c, t := range g.onTrial {
		t.Stop()
		delete(g.onTrial, c)
	}
}

// wrap returns h behind the membership check: a non-member's stream is
// reset unopened.
func (g *gate) wrap(h network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		if !g.allowed(s.Conn().RemotePeer()) {
			g.refused.Add(1)
			_ = s.Reset()
			return
		}
		h(s)
	}
}

// gatedHost is a libp2p host whose stream handlers all go through the
// gate's membership check: the protocols built on [Host.Libp2p] (the
// DHT's, gossipsub's, the chunk exchange's, the ledger's) never see a
// stream from a non-member.
type gatedHost struct {
	host.Host
	gate *gate
}

func (h gatedHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, h.gate.wrap(handler))
}

func (h gatedHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, h.gate.wrap(handler))
}

// SetMembership makes the host serve members only, as m tells them (see
// [Membership]), and closes the connections of peers that are not.
// Before it is called the host serves everyone.
func (h *Host) SetMembership(m Membership) {
	h.gate.members.Store(&m)
	h.DropNonMembers()
}

// DropNonMembers closes the connections of every connected peer that is
// not a member (a member just removed), except those on probation.
func (h *Host) DropNonMembers() {
	h.gate.mu.Lock()
	onTrial := make(map[network.Conn]bool, len(h.gate.onTrial))
	for c := range h.gate.onTrial {
		onTrial[c] = true
	}
	h.gate.mu.Unlock()
	for _, c := range h.host.Network().Conns() {
		if !onTrial[c] && !h.gate.allowed(c.RemotePeer()) {
			_ = c.Close()
		}
	}
}

// HandleOpen registers handler for pid open to every peer, members or
// not: the one protocol a non-member may use is the one that makes it a
// member (the ledger's join, which checks its invite).
func (h *Host) HandleOpen(pid protocol.ID, handler network.StreamHandler) {
	h.open.SetStreamHandler(pid, handler)
}

// Refused counts the streams and connections the membership check refused.
func (h *Host) Refused() int64 { return h.gate.refused.Load() }

// SetIsolated cuts the host off from every peer (closing its connections
// and refusing new ones both ways) or lets it back. It is a fault for
// tests of partitions; a node never isolates itself.
func (h *Host) SetIsolated(on bool) {
	h.gate.isolated.Store(on)
	if !on {
		return
	}
	for _, c := range h.host.Network().Conns() {
		_ = c.Close()
	}
}
