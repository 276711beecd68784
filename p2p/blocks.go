package p2p

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// ResourceBlocks counts the resource manager's refusals since the host
// started, by scope: a network that is sized right keeps them all at zero.
type ResourceBlocks struct {
	Conns, Streams, Peers, Protocols, Services, Memory int64
}

// Total is the sum of all refusals.
func (b ResourceBlocks) Total() int64 {
	return b.Conns + b.Streams + b.Peers + b.Protocols + b.Services + b.Memory
}

// ResourceBlocks returns how many connections, streams, peers, protocol and
// service attachments and memory reservations the resource manager refused.
func (h *Host) ResourceBlocks() ResourceBlocks {
	c := h.blocks
	return ResourceBlocks{
		Conns:     c.conns.Load(),
		Streams:   c.streams.Load(),
		Peers:     c.peers.Load(),
		Protocols: c.protocols.Load(),
		Services:  c.services.Load(),
		Memory:    c.memory.Load(),
	}
}

// blockCounter is the resource manager's metrics reporter: it counts
// refusals and ignores what was allowed.
type blockCounter struct {
	conns, streams, peers, protocols, services, memory atomic.Int64
}

var _ rcmgr.MetricsReporter = (*blockCounter)(nil)

func (*blockCounter) AllowConn(network.Direction, bool)        {}
func (c *blockCounter) BlockConn(network.Direction, bool)      { c.conns.Add(1) }
func (*blockCounter) AllowStream(peer.ID, network.Direction)   {}
func (c *blockCounter) BlockStream(peer.ID, network.Direction) { c.streams.Add(1) }
func (*blockCounter) AllowPeer(peer.ID)                        {}
func (c *blockCounter) BlockPeer(peer.ID)                      { c.peers.Add(1) }
func (*blockCounter) AllowProtocol(protocol.ID)                {}
func (c *blockCounter) BlockProtocol(protocol.ID)              { c.protocols.Add(1) }
func (c *blockCounter) BlockProtocolPeer(protocol.ID, peer.ID) { c.protocols.Add(1) }
func (*blockCounter) AllowService(string)                      {}
func (c *blockCounter) BlockService(string)                    { c.services.Add(1) }
func (c *blockCounter) BlockServicePeer(string, peer.ID)       { c.services.Add(1) }
func (*blockCounter) AllowMemory(int)                          {}
func (c *blockCounter) BlockMemory(int)                        { c.memory.Add(1) }
