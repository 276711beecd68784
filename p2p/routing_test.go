package p2p

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	manet "github.com/multiformats/go-multiaddr/net"
)

// newBootHost starts a host on loopback TCP that bootstraps from boot.
func newBootHost(t *testing.T, boot ...*Host) *Host {
	t.Helper()
	key, err := LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, b := range boot {
		addrs = append(addrs, b.Addrs()[0].String())
	}
	h, err := New(t.Context(), Config{
		Key:         key,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Bootstrap:   addrs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

func TestDHTChain(t *testing.T) {
	const n = 5
	hosts := make([]*Host, n)
	hosts[0] = newBootHost(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := hosts[0].Bootstrap(ctx); err != nil {
		t.Fatalf("bootstrap of a lone host: %v", err)
	}
	for i := 1; i < n; i++ {
		hosts[i] = newBootHost(t, hosts[i-1])
		if err := hosts[i].Bootstrap(ctx); err != nil {
			t.Fatalf("bootstrap host %d: %v", i, err)
		}
		if hosts[i].DHT().RoutingTable().Size() == 0 {
			t.Fatalf("host %d: empty routing table after Bootstrap", i)
		}
	}
	ids := make([]peer.ID, n)
	for i, h := range hosts {
		ids[i] = h.ID()
	}

	// Every host finds every other, through the DHT when it has not met it.
	for i, h := range hosts {
		for j, other := range hosts {
			if i == j {
				continue
			}
			ai, err := h.FindPeer(ctx, other.ID())
			if err != nil {
				t.Fatalf("host %d FindPeer(host %d): %v", i, j, err)
			}
			if ai.ID != other.ID() || len(ai.Addrs) == 0 {
				t.Fatalf("host %d FindPeer(host %d) = %v", i, j, ai)
			}
		}
	}
	// The ends of the chain connect through the DHT, protected under a tag.
	first, last := hosts[0], hosts[n-1]
	if err := first.Connect(ctx, last.ID(), "test"); err != nil {
		t.Fatalf("Connect across the chain: %v", err)
	}
	if !slices.Contains(first.Peers(), last.ID()) {
		t.Errorf("Peers() = %v, want it to hold %s", first.Peers(), last.ID())
	}
	if !first.Libp2p().ConnManager().IsProtected(last.ID(), "test") {
		t.Error("connection not protected under its tag")
	}
	first.Unprotect(last.ID(), "test") // kad-dht may protect it under its own tag
	if first.Libp2p().ConnManager().IsProtected(last.ID(), "test") {
		t.Error("still protected under the tag after Unprotect")
	}
	if err := first.Connect(ctx, first.ID(), ""); !errors.Is(err, ErrSelfDial) {
		t.Errorf("Connect to self: %v, want ErrSelfDial", err)
	}

	// Nobody but the five, on loopback, over the private DHT protocol.
	want := protocol.ID("/dds/kad/1.0.0")
	for i, h := range hosts {
		if got := h.DHT().Host().Mux().Protocols(); !slices.Contains(got, want) || slices.Contains(got, "/ipfs/kad/1.0.0") {
			t.Errorf("host %d speaks %v, want %s and not the public DHT", i, got, want)
		}
		for _, p := range h.Libp2p().Peerstore().Peers() {
			if !slices.Contains(ids, p) {
				t.Errorf("host %d knows a stranger %s", i, p)
			}
		}
		for _, c := range h.Libp2p().Network().Conns() {
			if !manet.IsIPLoopback(c.RemoteMultiaddr()) || !slices.Contains(ids, c.RemotePeer()) {
				t.Errorf("host %d connected to %s at %s", i, c.RemotePeer(), c.RemoteMultiaddr())
			}
		}
		if b := h.ResourceBlocks(); b.Total() != 0 {
			t.Errorf("host %d: resource manager refusals %+v", i, b)
		}
	}
}

func TestFindPeerUnknown(t *testing.T) {
	a := newBootHost(t)
	b := newBootHost(t, a)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := b.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	stranger := newBootHost(t) // never joins
	short, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	if ai, err := b.FindPeer(short, stranger.ID()); err == nil {
		t.Errorf("FindPeer of a peer outside the network = %v, want an error", ai)
	}
	if err := b.Connect(short, stranger.ID(), "x"); err == nil {
		t.Error("Connect to a peer outside the network succeeded")
	}
	if ai, err := b.FindPeer(ctx, b.ID()); err != nil || ai.ID != b.ID() || len(ai.Addrs) == 0 {
		t.Errorf("FindPeer(self) = %v, %v", ai, err)
	}
}

func TestBootstrapErrors(t *testing.T) {
	key, err := LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	listen := []string{"/ip4/127.0.0.1/tcp/0"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"garbage", Config{Bootstrap: []string{"garbage"}}, ErrBootstrapAddr},
		{"no peer id", Config{Bootstrap: []string{"/ip4/127.0.0.1/tcp/1"}}, ErrBootstrapAddr},
		{"public dht", Config{DHTPrefix: "/ipfs"}, ErrPublicDHT},
	} {
		tc.cfg.Key, tc.cfg.ListenAddrs = key, listen
		if h, err := New(t.Context(), tc.cfg); !errors.Is(err, tc.want) {
			if err == nil {
				_ = h.Close()
			}
			t.Errorf("%s: New = %v, want %v", tc.name, err, tc.want)
		}
	}

	// A bootstrap peer that is gone: Bootstrap fails with ErrNoBootstrapPeers.
	gone := newBootHost(t)
	addr := gone.Addrs()[0].String()
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(t.Context(), Config{Key: other, ListenAddrs: listen, Bootstrap: []string{addr}, DHTPrefix: "/dds-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := h.Bootstrap(ctx); !errors.Is(err, ErrNoBootstrapPeers) {
		t.Errorf("Bootstrap to a closed peer: %v, want ErrNoBootstrapPeers", err)
	}
}
