// Package p2ptest starts libp2p hosts for the tests of the protocol
// packages: a host on loopback with a key of its own, closed when the
// test ends, and a connection between two.
package p2ptest

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/p2p"
)

// NewHost starts a host with a new ed25519 key on a free loopback port;
// it closes when tb ends.
func NewHost(tb testing.TB) *p2p.Host {
	tb.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := p2p.New(context.Background(), p2p.Config{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

// Connect connects a to b.
func Connect(tb testing.TB, a, b *p2p.Host) {
	tb.Helper()
	if err := a.Libp2p().Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		tb.Fatal(err)
	}
}
