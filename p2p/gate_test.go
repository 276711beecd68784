package p2p

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// memberSet is a Membership the test changes.
type memberSet struct {
	mu sync.Mutex
	m  map[peer.ID]bool
}

func (s *memberSet) IsMember(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[p]
}

func (s *memberSet) set(p peer.ID, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[p] = on
}

// echo answers one line on proto.
func echo(s network.Stream) {
	defer s.Close()
	b := make([]byte, 4)
	if _, err := io.ReadFull(s, b); err == nil {
		_, _ = s.Write(b)
	}
}

// ask opens proto from h to p and reports whether it was answered.
func ask(t *testing.T, h *Host, p peer.ID, proto string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := h.Libp2p().NewStream(ctx, p, protocol.ID("/test/"+proto))
	if err != nil {
		return false
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Write([]byte("ping")); err != nil {
		return false
	}
	b := make([]byte, 4)
	_, err = io.ReadFull(s, b)
	return err == nil && string(b) == "ping"
}

// TestGateServesMembersOnly: once a host knows its members, a non-member's
// streams are reset except on an open protocol, its inbound connection is
// closed when its probation ends unless it became a member meanwhile, and
// a member removed loses its connection.
func TestGateServesMembersOnly(t *testing.T) {
	h := newTestHost(t, "/ip4/127.0.0.1/tcp/0")
	h.gate.probation = 300 * time.Millisecond
	member, outsider, late := newTestHost(t, "/ip4/127.0.0.1/tcp/0"), newTestHost(t, "/ip4/127.0.0.1/tcp/0"), newTestHost(t, "/ip4/127.0.0.1/tcp/0")
	ms := &memberSet{m: map[peer.ID]bool{member.ID(): true}}
	h.Libp2p().SetStreamHandler("/test/gated", echo)
	h.HandleOpen("/test/open", echo)
	h.SetMembership(ms)
	for _, c := range []*Host{member, outsider, late} {
		if err := c.Libp2p().Connect(t.Context(), peer.AddrInfo{ID: h.ID(), Addrs: h.Libp2p().Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	if !ask(t, member, h.ID(), "gated") {
		t.Fatal("a member was refused")
	}
	if ask(t, outsider, h.ID(), "gated") {
		t.Fatal("a non-member was served")
	}
	if !ask(t, outsider, h.ID(), "open") {
		t.Fatal("a non-member was refused the open protocol")
	}
	if h.Refused() == 0 {
		t.Fatal("no refusal counted")
	}
	ms.set(late.ID(), true) // admitted while on probation
	if !ask(t, late, h.ID(), "gated") {
		t.Fatal("a member admitted on probation was refused")
	}
	connected := func(p peer.ID) bool { return len(h.Libp2p().Network().ConnsToPeer(p)) > 0 }
	deadline := time.Now().Add(5 * time.Second)
	for connected(outsider.ID()) {
		if time.Now().After(deadline) {
			t.Fatal("the outsider's connection outlived its probation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !connected(member.ID()) || !connected(late.ID()) {
		t.Fatal("a member's connection was closed")
	}
	ms.set(member.ID(), false)
	h.DropNonMembers()
	if connected(member.ID()) {
		t.Fatal("a removed member kept its connection")
	}
	if ask(t, member, h.ID(), "gated") {
		t.Fatal("a removed member was served")
	}
}

// TestGateBoundsProbation: no more than the bound of non-members' inbound
// connections are open at once; a member still connects.
func TestGateBoundsProbation(t *testing.T) {
	h := newTestHost(t, "/ip4/127.0.0.1/tcp/0")
	h.gate.maxTrial = 2
	member := newTestHost(t, "/ip4/127.0.0.1/tcp/0")
	h.SetMembership(&memberSet{m: map[peer.ID]bool{member.ID(): true}})
	connect := func(c *Host) error {
		return c.Libp2p().Connect(t.Context(), peer.AddrInfo{ID: h.ID(), Addrs: h.Libp2p().Addrs()})
	}
	for range 2 {
		if err := connect(newTestHost(t, "/ip4/127.0.0.1/tcp/0")); err != nil {
			t.Fatal(err)
		}
	}
	third := newTestHost(t, "/ip4/127.0.0.1/tcp/0")
	_ = connect(third) // the dialer may see the handshake succeed before the gate closes it
	deadline := time.Now().Add(5 * time.Second)
	for len(h.Libp2p().Network().ConnsToPeer(third.ID())) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a third non-member was let in past the bound of 2")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := connect(member); err != nil || len(h.Libp2p().Network().ConnsToPeer(member.ID())) == 0 {
		t.Fatalf("a member was refused while the bound was reached: %v", err)
	}
}
