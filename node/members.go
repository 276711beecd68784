package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/consensus"
	"github.com/ddsnet/dds/p2p"
)

// members is the node's answer to "may this peer use our protocols?"
// (p2p.Membership), which the host asks for every stream and connection.
//
// The ledger decides: a peer is a member when the ledger admitted it and
// has not removed it. Two things stand in where this replica cannot know
// yet:
//   - the Raft configuration in the node's own log: a replica restored
//     from an old snapshot has not applied the admissions since, and
//     cannot apply them until it hears from the leader, which may be one
//     of them. Only the leader writes the configuration, and it adds a
//     server only once the ledger admitted it (handleJoin);
//   - before this replica holds the ledger at all (a node joining), the
//     peers it chose to trust: its bootstrap peers and the configuration
//     they answered its join with.
//
// A peer the ledger removed is refused whatever the configuration says.
type members struct {
	n       *Node
	view    atomic.Pointer[ledgerMembers]
	config  atomic.Pointer[map[peer.ID]bool] // the Raft configuration, refreshed
	initial atomic.Pointer[map[peer.ID]bool] // trusted until the ledger is here

	warnedRemoved atomic.Bool // the node said it was removed
}

// ledgerMembers is what the ledger says of membership, at one
// billing.Ledger.MembershipVersion: the gate asks for every stream and
// connection, so it reads this view, and the ledger (whose lock waits on
// applies) only when its members changed.
type ledgerMembers struct {
	version     uint64
	initialised bool
	member      map[peer.ID]bool // true: a member; false: removed
}

var _ p2p.Membership = (*members)(nil)

// ledger returns the ledger's view of membership now.
func (m *members) ledger() *ledgerMembers {
	version := m.n.ledger.MembershipVersion() // before the read: a change meanwhile reads again next time
	if v := m.view.Load(); v != nil && v.version == version {
		return v
	}
	v := &ledgerMembers{version: version, member: map[peer.ID]bool{}}
	var ids, removed []string
	m.n.ledger.Read(func(st *billing.State) {
		_, v.initialised = st.Settings()
		ids, removed = st.Members(), st.RemovedMembers()
	})
	for _, list := range []struct {
		ids    []string
		member bool
	}{{ids, true}, {removed, false}} {
		for _, id := range list.ids {
			if p, err := peer.Decode(id); err == nil {
				v.member[p] = list.member
			}
		}
	}
	m.view.Store(v)
	return v
}

// IsMember reports whether p may use this node's protocols.
func (m *members) IsMember(p peer.ID) bool {
	v := m.ledger()
	if member, known := v.member[p]; known {
		return member // admitted, or removed whatever the configuration says
	}
	if m.inConfig(p) {
		return true
	}
	if v.initialised {
		return false
	}
	i := m.initial.Load()
	return i != nil && (*i)[p]
}

// Admits reports whether this node serves p: a member of the network (see
// members).
func (n *Node) Admits(p peer.ID) bool { return n.members.IsMember(p) }

// Refused counts the streams and connections this node refused to
// non-members.
func (n *Node) Refused() int64 { return n.host.Refused() }

// inConfig reports whether p is a server of the Raft configuration in this
// node's log and not removed from the ledger.
func (m *members) inConfig(p peer.ID) bool {
	if member, known := m.ledger().member[p]; known && !member {
		return false
	}
	c := m.config.Load()
	return c != nil && (*c)[p]
}

// trust adds peers to those trusted until the ledger is here.
func (m *members) trust(ids ...peer.ID) {
	next := map[peer.ID]bool{}
	if old := m.initial.Load(); old != nil {
		for p := range *old {
			next[p] = true
		}
	}
	for _, p := range ids {
		next[p] = true
	}
	m.initial.Store(&next)
}

// refresh reads the Raft configuration again; a member removed from the
// ledger loses its connections to this node.
func (m *members) refresh(context.Context) {
	if m.n.raft == nil {
		return
	}
	ms, err := m.n.raft.Members()
	if err != nil {
		return
	}
	next := make(map[peer.ID]bool, len(ms))
	for _, s := range ms {
		if p, err := peer.Decode(s.ID); err == nil {
			next[p] = true
		}
	}
	m.config.Store(&next)
	m.n.host.DropNonMembers()
	if self := m.n.host.ID(); !m.warnedRemoved.Load() {
		if member, known := m.ledger().member[self]; known && !member {
			m.warnedRemoved.Store(true)
			m.n.log.Error("this node was removed from the network by its admission key: the others no longer serve it; it takes part again only with a new invite")
		}
	}
}

// admissionKey loads, or makes for a new network, the admission key a
// founding node keeps: Config.AdmissionKey, else admission.key in its
// data dir.
func (n *Node) admissionKey() (ed25519.PrivateKey, error) {
	path := n.cfg.AdmissionKey
	if path == "" {
		path = filepath.Join(n.cfg.DataDir, p2p.AdmissionKeyFile)
	}
	key, err := p2p.LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("admission key: %w", err)
	}
	raw, err := p2p.RawKey(key)
	if err != nil {
		return nil, fmt.Errorf("admission key %s: %w", path, err)
	}
	return raw, nil
}

// Admit makes peer a member with its invite, as the join protocol does for
// a node that joins, without adding it to the ledger's Raft group: for
// tools and tests whose host takes part in the protocols but keeps no
// ledger.
func (n *Node) Admit(ctx context.Context, id peer.ID, invite string) error {
	return n.admit(ctx, id, invite)
}

// admit makes peer a member with its invite (the ledger checks it again on
// every replica); a peer that is a member already needs none (see
// joinable).
func (n *Node) admit(ctx context.Context, id peer.ID, invite string) error {
	if n.joinable(id) {
		return nil
	}
	var initialised bool
	var key []byte
	n.ledger.Read(func(st *billing.State) {
		key = st.AdmissionKey()
		_, initialised = st.Settings()
	})
	if !initialised {
		return fmt.Errorf("%w: this node has not read the ledger yet; ask again", ErrUnavailable)
	}
	if invite == "" {
		return fmt.Errorf("%w: %s is not a member of this network and brought no invite (the admission key's holder makes one with: dds invite %s)", ErrForbidden, id, id)
	}
	iv, err := billing.ParseInvite(invite)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	if err := iv.Check(key, id.String(), n.now()); err != nil {
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	if _, err := n.apply(ctx, billing.Command{Admit: &billing.Admit{Invite: iv}}); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("admit %s: %w", id, err)
	}
	n.log.Info("node admitted", "peer", id)
	return nil
}

// RemoveMember applies the removal of peerID at at, signed by the admission
// key (billing.Removal; the ledger checks the signature on every replica):
// the member leaves the ledger's registry at once, every node drops its
// connections, and the leader takes it out of the Raft configuration.
func (n *Node) RemoveMember(ctx context.Context, peerID string, at time.Time, sig []byte) error {
	r := billing.Removal{PeerID: peerID, At: at.UTC(), Signature: sig}
	if _, err := n.apply(ctx, billing.Command{Remove: &billing.Remove{Removal: r}}); err != nil {
		return fmt.Errorf("remove %s: %w", r.PeerID, err)
	}
	n.members.refresh(ctx)
	return nil
}

// pruneRemoved is the leader's part of a removal: a server of the Raft
// configuration that the ledger removed leaves it.
func (n *Node) pruneRemoved(ctx context.Context) {
	if !n.raft.IsLeader() {
		return
	}
	ms, err := n.raft.Members()
	if err != nil {
		return
	}
	view := n.members.ledger()
	for _, m := range ms {
		p, err := peer.Decode(m.ID)
		if err != nil {
			continue
		}
		if member, known := view.member[p]; !known || member {
			continue
		}
		if err := n.raft.Remove(ctx, m.ID); err != nil && !errors.Is(err, consensus.ErrNotLeader) {
			n.log.Warn("take a removed member out of the ledger's group", "peer", m.ID, "err", err)
		}
	}
}
