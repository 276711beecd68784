package p2p

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gate is the host's connection gater: it lets every connection through
// unless the host is cut off from the network (a fault that tests inject
// with [Host.SetIsolated] to simulate a partition).
type gate struct{ isolated atomic.Bool }

func (g *gate) InterceptPeerDial(peer.ID) bool               { return !g.isolated.Load() }
func (g *gate) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return !g.isolated.Load() }
func (g *gate) InterceptAccept(network.ConnMultiaddrs) bool  { return !g.isolated.Load() }
func (g *gate) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return !g.isolated.Load()
}
func (g *gate) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return !g.isolated.Load(), 0
}

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
