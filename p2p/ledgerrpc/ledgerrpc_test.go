package ledgerrpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ddsnet/dds/internal/p2ptest"
	"github.com/ddsnet/dds/p2p/wire"
)

// server is a leader that takes commands from its members only.
type server struct {
	member  peer.ID
	leading bool
}

func (s *server) Join(_ context.Context, from peer.ID, req JoinRequest) (JoinResponse, error) {
	if req.Invite != "ok" || req.PeerID != from.String() {
		return JoinResponse{}, fmt.Errorf("%w: no valid invite", ErrForbidden)
	}
	return JoinResponse{Role: "nonvoter", Servers: []string{"a", "b"}}, nil
}

func (s *server) Forward(_ context.Context, from peer.ID, cmd []byte) ([]byte, error) {
	switch {
	case !s.leading:
		return nil, fmt.Errorf("%w: ask the leader", ErrNotLeader)
	case from != s.member:
		return nil, fmt.Errorf("%w: not a member's command", ErrForbidden)
	}
	return append([]byte("applied:"), cmd...), nil
}

func (s *server) Index(context.Context, peer.ID) (uint64, error) {
	if !s.leading {
		return 0, ErrNotLeader
	}
	return 42, nil
}

func (s *server) Prepare(context.Context, peer.ID) error { return nil }

// Each call reaches its handler and its refusals come back by code; the
// join handler goes through the registration for open protocols.
func TestCalls(t *testing.T) {
	a, b := p2ptest.NewHost(t), p2ptest.NewHost(t)
	s := &server{member: a.ID(), leading: true}
	var opened []protocol.ID
	Register(b.Libp2p(), s, func(p protocol.ID, h network.StreamHandler) {
		opened = append(opened, p)
		b.Libp2p().SetStreamHandler(p, h)
	})
	if len(opened) != 1 || opened[0] != JoinProtocol {
		t.Fatalf("opened %v, want only the join protocol", opened)
	}
	p2ptest.Connect(t, a, b)
	c := wire.NewClient(a.Libp2p())

	resp, err := Join(t.Context(), a.Libp2p(), b.ID(), JoinRequest{PeerID: a.ID().String(), Invite: "ok"})
	if err != nil || resp.Role != "nonvoter" || len(resp.Servers) != 2 {
		t.Fatalf("join: %+v %v", resp, err)
	}
	if _, err := Join(t.Context(), a.Libp2p(), b.ID(), JoinRequest{PeerID: a.ID().String()}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("join without an invite: %v", err)
	}
	if res, err := Forward(t.Context(), c, b.ID(), []byte("x")); err != nil || string(res) != "applied:x" {
		t.Fatalf("forward: %q %v", res, err)
	}
	if idx, err := Index(t.Context(), c, b.ID()); err != nil || idx != 42 {
		t.Fatalf("index: %d %v", idx, err)
	}
	if err := Prepare(t.Context(), c, b.ID()); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	s.member = b.ID() // a is no member any more
	if _, err := Forward(t.Context(), c, b.ID(), []byte("x")); !errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotLeader) {
		t.Fatalf("forward by a non-member: %v", err)
	}
	s.leading = false
	if _, err := Forward(t.Context(), c, b.ID(), []byte("x")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("forward to a follower: %v", err)
	}
	if _, err := Index(t.Context(), c, b.ID()); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("index of a follower: %v", err)
	}
}
