package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// rtPollInterval is how often [Host.Bootstrap] looks at the routing table
// while it waits for its first peer.
const rtPollInterval = 20 * time.Millisecond

// parseBootstrap parses the --bootstrap values, merging addresses of the same
// peer.
func parseBootstrap(addrs []string) ([]peer.AddrInfo, error) {
	mas := make([]multiaddr.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		m, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrBootstrapAddr, s, err)
		}
		if _, err := m.ValueForProtocol(multiaddr.P_P2P); err != nil {
			return nil, fmt.Errorf("%w %q: no /p2p/<id>", ErrBootstrapAddr, s)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBootstrapAddr, err)
	}
	slices.SortFunc(infos, func(a, b peer.AddrInfo) int { return compareIDs(a.ID, b.ID) })
	return infos, nil
}

func compareIDs(a, b peer.ID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// routingTableFilter admits a peer to the DHT routing table when there is a
// live connection to it, whatever its address: loopback and private
// networks are as good as public ones for dds (kad-dht's public filters
// would refuse a loopback network).
func routingTableFilter(d any, p peer.ID) bool {
	kd, ok := d.(interface{ Host() host.Host })
	if !ok {
		return false
	}
	return len(kd.Host().Network().ConnsToPeer(p)) > 0
}

// queryFilter lets the DHT query a peer that has at least one IP or DNS
// address: loopback, private and public alike; relay-only peers are
// skipped (relays are off).
func queryFilter(_ any, ai peer.AddrInfo) bool {
	for _, a := range ai.Addrs {
		if _, err := a.ValueForProtocol(multiaddr.P_CIRCUIT); err == nil {
			continue
		}
		if _, err := manet.ToIP(a); err == nil {
			return true
		}
		if isDNS(a) {
			return true
		}
	}
	return false
}

func isDNS(a multiaddr.Multiaddr) bool {
	if len(a) == 0 {
		return false
	}
	switch a[0].Code() {
	case multiaddr.P_DNS, multiaddr.P_DNS4, multiaddr.P_DNS6, multiaddr.P_DNSADDR:
		return true
	}
	return false
}

// DHT returns the host's kad-dht (server mode, private prefix), for provider
// records and lookups beyond [Host.FindPeer].
func (h *Host) DHT() *dht.IpfsDHT { return h.dht }

// Bootstrap joins the network: [Host.ConnectBootstrap], then
// [Host.BootstrapDHT]. With no bootstrap peers (the first node, or a node
// on its own) it returns at once.
func (h *Host) Bootstrap(ctx context.Context) error {
	if len(h.bootstrap) == 0 {
		if err := h.dht.Bootstrap(ctx); err != nil {
			return fmt.Errorf("bootstrap dht: %w", err)
		}
		return nil
	}
	reached, err := h.ConnectBootstrap(ctx)
	if err != nil {
		return err
	}
	if reached == 0 { // the list named only this host
		if err := h.dht.Bootstrap(ctx); err != nil {
			return fmt.Errorf("bootstrap dht: %w", err)
		}
		return nil
	}
	return h.BootstrapDHT(ctx)
}

// ConnectBootstrap connects to the configured bootstrap peers
// (Config.Bootstrap) in parallel. Peers it cannot reach are logged and
// skipped; if none of a non-empty list can be reached within ctx it fails
// with [ErrNoBootstrapPeers]. It returns how many it reached.
func (h *Host) ConnectBootstrap(ctx context.Context) (int, error) {
	reached, errs := h.connectAll(ctx, h.bootstrap, "bootstrap peer unreachable")
	if reached == 0 && len(errs) > 0 {
		return 0, fmt.Errorf("bootstrap: %w: %w", ErrNoBootstrapPeers, errors.Join(errs...))
	}
	h.log.Info("p2p connected to bootstrap peers", "reached", reached)
	return reached, nil
}

// ConnectPeers dials the peers at once and returns how many it reached
// (a member started again dials the members it knew when its bootstrap
// peers are down).
func (h *Host) ConnectPeers(ctx context.Context, peers []peer.AddrInfo) int {
	reached, _ := h.connectAll(ctx, peers, "known peer unreachable")
	return reached
}

// connectAll dials peers (but this host) at once; it logs each failure
// with what.
func (h *Host) connectAll(ctx context.Context, peers []peer.AddrInfo, what string) (int, []error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		reached int
		errs    []error
	)
	for _, ai := range peers {
		if ai.ID == h.ID() {
			continue
		}
		wg.Go(func() {
			err := h.host.Connect(ctx, ai)

			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				h.log.Warn(what, "peer", ai.ID.String(), "err", err)
				errs = append(errs, fmt.Errorf("%s: %w", ai.ID, err))
				return
			}
			reached++
		})
	}
	wg.Wait()
	return reached, errs
}

// BootstrapDHT bootstraps the DHT through the connected peers: it adds
// those the membership check lets in to the routing table (a peer met
// before it admitted this node refused the DHT's check of it), waits until
// the table holds at least one peer, then for the first routing table
// refresh (a lookup of the host's own id, which makes it known to its
// neighbours) or ctx, whichever comes first.
func (h *Host) BootstrapDHT(ctx context.Context) error {
	for _, p := range h.host.Network().Peers() {
		if h.gate.allowed(p) {
			_, _ = h.dht.RoutingTable().TryAddPeer(p, true, false)
		}
	}
	if err := h.dht.Bootstrap(ctx); err != nil {
		return fmt.Errorf("bootstrap dht: %w", err)
	}
	if len(h.bootstrap) == 0 && h.dht.RoutingTable().Size() == 0 {
		return nil
	}
	t := time.NewTicker(rtPollInterval)
	defer t.Stop()
	for h.dht.RoutingTable().Size() == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bootstrap: routing table still empty: %w", ctx.Err())
		case <-t.C:
		}
	}
	select {
	case err := <-h.dht.RefreshRoutingTable():
		if err != nil {
			h.log.Debug("dht refresh", "err", err)
		}
	case <-ctx.Done():
	}
	h.log.Info("p2p bootstrapped", "routing_table", h.dht.RoutingTable().Size())
	return nil
}

// FindPeer resolves a peer's addresses: from the peerstore when it knows
// any (a connection, identify or an earlier lookup put them there), else by
// a DHT lookup.
func (h *Host) FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	if id == h.ID() {
		return peer.AddrInfo{ID: id, Addrs: h.host.Addrs()}, nil
	}
	if addrs := h.host.Peerstore().Addrs(id); len(addrs) > 0 {
		return peer.AddrInfo{ID: id, Addrs: addrs}, nil
	}
	// A peer that just connected in has no listen addresses until identify
	// has run on its connection.
	if h.ids != nil {
		for _, c := range h.host.Network().ConnsToPeer(id) {
			select {
			case <-h.ids.IdentifyWait(c):
			case <-ctx.Done():
				return peer.AddrInfo{}, fmt.Errorf("find peer %s: %w", id, ctx.Err())
			}
			if addrs := h.host.Peerstore().Addrs(id); len(addrs) > 0 {
				return peer.AddrInfo{ID: id, Addrs: addrs}, nil
			}
		}
	}
	ai, err := h.dht.FindPeer(ctx, id)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("find peer %s: %w", id, err)
	}
	if len(ai.Addrs) == 0 {
		return peer.AddrInfo{}, fmt.Errorf("find peer %s: %w", id, ErrNoAddrs)
	}
	return ai, nil
}

// Connect makes sure the host is connected to id: it resolves the peer with
// [Host.FindPeer] and dials it (when the peerstore's addresses fail, the
// host asks the DHT for fresh ones). With tag != "" the connection is
// protected in the connection manager under tag, so trimming never closes
// it; [Host.Unprotect] lifts that.
func (h *Host) Connect(ctx context.Context, id peer.ID, tag string) error {
	if id == h.ID() {
		return fmt.Errorf("connect: %w", ErrSelfDial)
	}
	if h.host.Network().Connectedness(id) != network.Connected {
		ai, err := h.FindPeer(ctx, id)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		if err := h.host.Connect(ctx, ai); err != nil {
			return fmt.Errorf("connect %s: %w", id, err)
		}
	}
	if tag != "" {
		h.host.ConnManager().Protect(id, tag)
	}
	return nil
}

// Unprotect removes the protection [Host.Connect] put on id under tag and
// reports whether the peer is still protected under another tag.
func (h *Host) Unprotect(id peer.ID, tag string) bool {
	return h.host.ConnManager().Unprotect(id, tag)
}

// Peers returns the peers the host is connected to, sorted.
func (h *Host) Peers() []peer.ID {
	ps := h.host.Network().Peers()
	slices.SortFunc(ps, compareIDs)
	return ps
}
