package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// A member started again dials the members it was connected to before
// when its --bootstrap peers are down: their addresses are kept in the
// data dir (knownPeersFile), looked at every knownPeersInterval and at
// Close, and written when they changed. So a network's nodes restart in any order while any one member
// they knew is up, not only the one named on their command line.

const (
	knownPeersFile     = "peers.json"
	knownPeersInterval = 5 * time.Second
	// maxKnownPeers bounds the file (and the dials at start).
	maxKnownPeers = 64
)

// knownPeersState is what a node last wrote (the file is written only
// when it changes).
type knownPeersState struct {
	knownMu    sync.Mutex
	knownSaved []byte
}

type knownPeer struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// saveKnownPeers writes the members this node is connected to, with
// their addresses, to the data dir (atomically: a crash leaves the old
// file or the new one).
func (n *Node) saveKnownPeers(context.Context) {
	var out []knownPeer
	ps := n.host.Libp2p().Peerstore()
	for _, p := range n.host.Peers() {
		if len(out) >= maxKnownPeers {
			break
		}
		if !n.members.IsMember(p) {
			continue
		}
		kp := knownPeer{ID: p.String()}
		for _, a := range ps.Addrs(p) {
			kp.Addrs = append(kp.Addrs, a.String())
		}
		if len(kp.Addrs) > 0 {
			out = append(out, kp)
		}
	}
	if len(out) == 0 {
		return // nothing better than what the file holds
	}
	slices.SortFunc(out, func(a, b knownPeer) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.Marshal(out)
	if err != nil {
		n.log.Warn("save the known peers", "err", err)
		return
	}
	n.knownMu.Lock()
	defer n.knownMu.Unlock()
	if bytes.Equal(b, n.knownSaved) {
		return
	}
	if err := writeFileAtomic(filepath.Join(n.cfg.DataDir, knownPeersFile), b, 0o600); err != nil {
		n.log.Warn("save the known peers", "err", err)
		return
	}
	n.knownSaved = b
}

// knownPeers reads the members this node knew, nil when it knew none.
func (n *Node) knownPeers() []peer.AddrInfo {
	b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, knownPeersFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			n.log.Warn("read the known peers", "err", err)
		}
		return nil
	}
	var kps []knownPeer
	if err := json.Unmarshal(b, &kps); err != nil {
		n.log.Warn("read the known peers", "err", err)
		return nil
	}
	var out []peer.AddrInfo
	for _, kp := range kps[:min(len(kps), maxKnownPeers)] {
		id, err := peer.Decode(kp.ID)
		if err != nil || id == n.host.ID() {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, s := range kp.Addrs {
			if a, err := multiaddr.NewMultiaddr(s); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		if len(ai.Addrs) > 0 {
			out = append(out, ai)
		}
	}
	return out
}

// connectPeers connects the host: to its --bootstrap peers, and, when
// none answers (or it has none: a network's first node started again),
// to the members it knew. A node that knew none and reaches no bootstrap
// peer fails, as before.
func (n *Node) connectPeers(ctx context.Context) error {
	reached, err := n.host.ConnectBootstrap(ctx)
	if reached > 0 {
		return nil
	}
	known := n.knownPeers()
	if len(known) == 0 {
		return err
	}
	for _, ai := range known {
		n.members.trust(ai.ID) // members when this node last saw them; the ledger says next
	}
	if r := n.host.ConnectPeers(ctx, known); r > 0 {
		if err != nil {
			n.log.Warn("no bootstrap peer reachable; connected to members this node knew", "reached", r, "known", len(known))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w, nor any of the %d members this node knew", err, len(known))
	}
	return nil
}
