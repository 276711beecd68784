package node

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Event kinds: what an operator watches the network for.
const (
	EventHolderReplaced = "holder_replaced" // a gone or failing holder's copy is being made again elsewhere
	EventAuditFailed    = "audit_failed"    // a holder failed an audit of a file
	EventMemberJoined   = "member_joined"   // a node joined the ledger
	EventMemberRemoved  = "member_removed"  // a member was removed
	EventPeerGone       = "peer_gone"       // a member stopped answering
	EventPeerBack       = "peer_back"       // a member answers again
)

// Event is one thing that happened in the network as this node saw it.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	Peer    string    `json:"peer,omitempty"`
	File    string    `json:"file,omitempty"`
}

// eventsKept is how many recent events a node keeps for GET /network.
const eventsKept = 200

// events is a ring of the node's recent events.
type events struct {
	mu   sync.Mutex
	ring []Event
	next int
	full bool
	// counts are the events of each kind since the node started (the
	// ring forgets; the dashboard's totals do not).
	counts map[string]int64
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ring == nil {
		e.ring = make([]Event, eventsKept)
	}
	if e.counts == nil {
		e.counts = map[string]int64{}
	}
	e.counts[ev.Kind]++
	e.ring[e.next] = ev
	e.next = (e.next + 1) % len(e.ring)
	if e.next == 0 {
		e.full = true
	}
}

// list returns the events kept, oldest first.
func (e *events) list() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.full {
		return append([]Event(nil), e.ring[:e.next]...)
	}
	return append(append([]Event(nil), e.ring[e.next:]...), e.ring[:e.next]...)
}

// count returns how many events of kind happened since the node started.
func (e *events) count(kind string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[kind]
}

// Events returns the node's recent events, oldest first (at most 200).
func (n *Node) Events() []Event { return n.events.list() }

// event records ev (its time set now when zero) and logs it, one line at
// level, with its kind, peer and file as attributes.
func (n *Node) event(level slog.Level, ev Event, attrs ...any) {
	if ev.Time.IsZero() {
		ev.Time = n.now()
	}
	n.events.add(ev)
	args := []any{"event", ev.Kind}
	if ev.Peer != "" {
		args = append(args, "peer", ev.Peer)
	}
	if ev.File != "" {
		args = append(args, "file", ev.File)
	}
	n.log.Log(context.Background(), level, ev.Message, append(args, attrs...)...)
}
