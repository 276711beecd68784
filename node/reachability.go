package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ddsnet/dds/billing"
)

// peerWatch is what watchPeers last saw of the members: which answered on
// the status feed, since when one is silent, and which the ledger removed.
// Only watchPeers's goroutine touches it.
type peerWatch struct {
	primed    bool
	reachable map[string]bool      // member -> heard within the peer timeout
	since     map[string]time.Time // member -> when it was last found to change
	removed   map[string]bool
}

// watchPeers records an event, logged once, each time a member stops
// answering on the status feed (silent for the peer timeout) or answers
// again, and each time the ledger removes a member: news said once per
// change, where raft and the audits only retry. A member never heard from
// since this node started counts as gone once the peer timeout has passed;
// the members and removals found at the first look are taken as they are.
func (n *Node) watchPeers(context.Context) {
	if n.feed == nil {
		return
	}
	w := &n.peerWatch
	self := n.PeerID()
	var members []string
	removed := map[string]bool{}
	n.ledger.Read(func(st *billing.State) {
		for _, nd := range st.Nodes() {
			if st.Removed(nd.PeerID) {
				removed[nd.PeerID] = true
			} else if nd.PeerID != self {
				members = append(members, nd.PeerID)
			}
		}
		for _, id := range st.RemovedMembers() {
			removed[id] = true
		}
	})
	live := map[string]bool{}
	for _, p := range n.feed.Live(n.cfg.PeerTimeout) {
		live[p.Status.PeerID] = true
	}
	now := time.Now()
	settled := now.Sub(n.feedStarted) >= n.cfg.PeerTimeout
	if !w.primed {
		w.primed = true
		w.reachable, w.since, w.removed = map[string]bool{}, map[string]time.Time{}, removed
	} else {
		for id := range removed {
			if !w.removed[id] {
				n.event(slog.LevelWarn, Event{Kind: EventMemberRemoved, Message: "member removed from the network by its admission key", Peer: id})
			}
		}
		w.removed = removed
	}
	for id := range w.reachable {
		if removed[id] {
			delete(w.reachable, id)
			delete(w.since, id)
		}
	}
	for _, id := range members {
		was, known := w.reachable[id]
		is := live[id]
		switch {
		case !known && !is && !settled:
			continue // not heard from yet: the feed may not have reached it
		case !known:
			// First look (or a new member): its state, without news unless it is gone.
			if !is {
				n.event(slog.LevelWarn, Event{Kind: EventPeerGone, Peer: id,
					Message: fmt.Sprintf("member unreachable: not heard from on the status feed within %v", n.cfg.PeerTimeout)})
			}
		case was && !is:
			n.event(slog.LevelWarn, Event{Kind: EventPeerGone, Peer: id,
				Message: fmt.Sprintf("member unreachable: silent on the status feed for %v", n.cfg.PeerTimeout)})
		case !was && is:
			n.event(slog.LevelInfo, Event{Kind: EventPeerBack, Peer: id, Message: "member reachable again"},
				"gone_for", now.Sub(w.since[id]).Round(time.Second))
		default:
			continue
		}
		w.reachable[id], w.since[id] = is, now
	}
}
