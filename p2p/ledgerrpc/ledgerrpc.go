// Package ledgerrpc is the protocols members speak about the ledger's
// Raft group beside Raft itself: a node joins the group (join, the one
// protocol open to non-members, with an invite), a follower forwards its
// commands to the leader (forward), asks how far the leader's replica is
// (index), and the leader asks a non-voter to make its log durable before
// promoting it (prepare).
//
// The shape is go-libp2p's ping: the protocol IDs, [Register] for the
// handlers (the checks are the [Server]'s), and a client call for each;
// refusals are typed ([ErrNotLeader], [ErrBusy], [ErrForbidden],
// [ErrNoLeader]) and match with errors.Is on the caller's side. Joining
// and forwarding carry the ledger log's format version, as
// p2p.RaftProtocol does: a node whose ledger would apply commands
// otherwise cannot join or submit.
package ledgerrpc

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ddsnet/dds/p2p/wire"
)

// The protocols.
const (
	JoinProtocol    protocol.ID = "/dds/ledger/join/3.0.0"
	ForwardProtocol protocol.ID = "/dds/ledger/forward/4.0.0"
	IndexProtocol   protocol.ID = "/dds/ledger/index/1.0.0"
	PrepareProtocol protocol.ID = "/dds/ledger/prepare/1.0.0"
)

// Protocols lists them all.
var Protocols = []protocol.ID{JoinProtocol, ForwardProtocol, IndexProtocol, PrepareProtocol}

// Bounds of the calls.
const (
	JoinTimeout    = 10 * time.Second
	ForwardTimeout = 10 * time.Second
	IndexTimeout   = time.Second
	PrepareTimeout = 5 * time.Second
	MaxMessage     = 256 << 10
)

// The refusals.
const (
	// ErrNotLeader: the node asked does not lead the group (any more):
	// the caller looks for the leader again.
	ErrNotLeader wire.Code = "not leader"
	// ErrBusy: the leader could not take the command in time.
	ErrBusy wire.Code = "timeout"
	// ErrNoLeader: the node asked knows no leader to pass a join to.
	ErrNoLeader wire.Code = "no leader"
	// ErrForbidden: the caller may not ask this (a join without a valid
	// invite, for another node, or a command it did not propose).
	ErrForbidden wire.Code = "forbidden"
)

// JoinRequest asks to add PeerID to the group: the node itself, with its
// invite (billing.Invite's text; none for a member), or a member passing
// the join on to the leader.
type JoinRequest struct {
	PeerID string `json:"peer_id"`
	Invite string `json:"invite,omitempty"`
}

// JoinResponse is the joiner's role and the group's configuration: who
// the joiner hears the ledger from.
type JoinResponse struct {
	Role    string   `json:"role"`
	Servers []string `json:"servers"`
}

type forwardRequest struct {
	Command []byte `json:"command"`
}

type forwardResponse struct {
	Result []byte `json:"result"`
}

type indexResponse struct {
	StateIndex uint64 `json:"state_index"`
}

// Server answers the protocols.
type Server interface {
	// Join admits PeerID and adds it to the group.
	Join(ctx context.Context, from peer.ID, req JoinRequest) (JoinResponse, error)
	// Forward applies a command forwarded by from, on the leader, and
	// returns the state machine's result.
	Forward(ctx context.Context, from peer.ID, cmd []byte) ([]byte, error)
	// Index returns the index of the last entry the leader's replica
	// applied.
	Index(ctx context.Context, from peer.ID) (uint64, error)
	// Prepare makes this node's log durable before it is promoted.
	Prepare(ctx context.Context, from peer.ID) error
}

// Register serves the protocols on h with s: the join protocol through
// open (the host's registration for the one protocol non-members may
// open), the others through h.
func Register(h host.Host, s Server, open func(protocol.ID, network.StreamHandler), opts ...wire.HandlerOption) {
	open(JoinProtocol, wire.Handler(h, JoinTimeout, MaxMessage, s.Join, opts...))
	wire.Handle(h, ForwardProtocol, ForwardTimeout, MaxMessage, func(ctx context.Context, from peer.ID, req forwardRequest) (forwardResponse, error) {
		res, err := s.Forward(ctx, from, req.Command)
		return forwardResponse{Result: res}, err
	}, opts...)
	wire.Handle(h, IndexProtocol, IndexTimeout, MaxMessage, func(ctx context.Context, from peer.ID, _ struct{}) (indexResponse, error) {
		idx, err := s.Index(ctx, from)
		return indexResponse{StateIndex: idx}, err
	}, opts...)
	wire.Handle(h, PrepareProtocol, PrepareTimeout, MaxMessage, func(ctx context.Context, from peer.ID, _ struct{}) (struct{}, error) {
		return struct{}{}, s.Prepare(ctx, from)
	}, opts...)
}

// Join asks p to add req.PeerID to the group (on a new stream: a joiner
// keeps none).
func Join(ctx context.Context, h host.Host, p peer.ID, req JoinRequest) (JoinResponse, error) {
	var resp JoinResponse
	if err := wire.Call(ctx, h, p, JoinProtocol, JoinTimeout, req, &resp, MaxMessage); err != nil {
		return JoinResponse{}, fmt.Errorf("join through %s: %w", p, err)
	}
	return resp, nil
}

// Forward sends an encoded command to the leader p and returns the state
// machine's result.
func Forward(ctx context.Context, c *wire.Client, p peer.ID, cmd []byte) ([]byte, error) {
	var resp forwardResponse
	if err := c.Call(ctx, p, ForwardProtocol, ForwardTimeout, forwardRequest{Command: cmd}, &resp, MaxMessage); err != nil {
		return nil, fmt.Errorf("forward to %s: %w", p, err)
	}
	return resp.Result, nil
}

// Index asks the leader p for the index of the last entry its replica
// applied.
func Index(ctx context.Context, c *wire.Client, p peer.ID) (uint64, error) {
	var resp indexResponse
	if err := c.Call(ctx, p, IndexProtocol, IndexTimeout, struct{}{}, &resp, MaxMessage); err != nil {
		return 0, fmt.Errorf("index of %s: %w", p, err)
	}
	return resp.StateIndex, nil
}

// Prepare asks the non-voter p to make its log durable.
func Prepare(ctx context.Context, c *wire.Client, p peer.ID) error {
	if err := c.Call(ctx, p, PrepareProtocol, PrepareTimeout, struct{}{}, &struct{}{}, MaxMessage); err != nil {
		return fmt.Errorf("prepare %s: %w", p, err)
	}
	return nil
}
