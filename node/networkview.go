package node

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ddsnet/dds/billing"
)

// Network is the network as this node sees it, for GET /network and the
// dashboard: built from what the node already knows (the ledger's
// registry, the Raft configuration, the status feed, its own counters),
// without asking any peer.
type Network struct {
	PeerID      string // this node
	Leader      string // the ledger's leader as this node knows it ("" when none)
	LedgerIndex uint64 // the last ledger index this node applied
	Members     []NetworkMember
	Self        NodeStats
	Events      []Event // oldest first
}

// NetworkMember is one member of the network's registry.
type NetworkMember struct {
	PeerID string
	Role   string // "voter", "nonvoter" or "registered" (in the ledger, not in the Raft group)
	HTTP   string
	Self   bool
	// Reachable: this node heard the member's status on the feed within
	// the peer timeout (a gone member is what repair acts on), or it is
	// this node.
	Reachable bool
	// Known reports whether the fields below are known: false for a peer
	// never heard from on the feed.
	Known       bool
	LastSeen    time.Time // when its last status arrived (zero for this node)
	Capacity    int64
	Free        int64
	Stored      int64
	LedgerIndex uint64
	Version     string
	Uptime      int64         // seconds
	Latency     time.Duration // round trip, 0 if unknown
}

// NodeStats are this node's own figures.
type NodeStats struct {
	Capacity int64
	Free     int64
	Stored   int64
	Version  string
	Uptime   int64 // seconds since its status feed started (0 in --dev)

	UploadBytes     int64   // file bytes uploaded to this node and quoted
	ReadBytes       int64   // file bytes this node read for downloads
	Quotes          int64   // uploads quoted by this node since it started
	QuotesPerSec    float64 // over about the last minute
	Attested        int64   // other nodes' quotes this node attested
	HoldersReplaced int64   // repairs this node started of a gone or failing holder's copy
	ChunkRepairs    int64   // corrupt chunks of this store replaced from another holder
	AuditsFailed    int64   // audits of holders that failed
}

// Network returns the network as this node sees it now.
func (n *Node) Network(context.Context) Network {
	now := n.now()
	nw := Network{PeerID: n.PeerID(), LedgerIndex: n.ledger.Index(), Events: n.Events()}
	rs := n.raft.Status()
	nw.Leader = rs.Leader
	role := map[string]string{}
	for _, v := range rs.Voters {
		role[v] = "voter"
	}
	for _, v := range rs.NonVoters {
		role[v] = "nonvoter"
	}

	quotes := counterValue(n.metrics.uploads)
	nw.Self = NodeStats{
		Capacity:        n.cfg.Capacity,
		Free:            n.free(),
		Stored:          n.store.Usage().Bytes,
		Version:         Version,
		UploadBytes:     int64(counterValue(n.metrics.uploadBytes)),
		ReadBytes:       int64(counterValue(n.metrics.readBytes)),
		Quotes:          int64(quotes),
		QuotesPerSec:    n.quoteRate.rate(now, quotes, n.feedStarted),
		Attested:        int64(counterValue(n.metrics.attested)),
		HoldersReplaced: n.events.count(EventHolderReplaced),
		ChunkRepairs:    int64(counterValue(n.metrics.chunkRepairs)),
		AuditsFailed:    n.events.count(EventAuditFailed),
	}
	if !n.feedStarted.IsZero() {
		nw.Self.Uptime = int64(time.Since(n.feedStarted).Seconds())
	}

	var nodes []billing.Node
	var removed []string
	n.ledger.Read(func(st *billing.State) { nodes, removed = st.Nodes(), st.RemovedMembers() })
	seen := map[string]bool{}
	for _, id := range removed {
		// Not a member (the registry forgot it), though the Raft group may
		// still list it until the leader prunes it: its removal is in the
		// events.
		seen[id] = true
	}
	for _, nd := range nodes {
		seen[nd.PeerID] = true
		nw.Members = append(nw.Members, n.networkMember(nd.PeerID, nd.HTTP, role, nw.Self, now))
	}
	// A server of the Raft group the registry does not list yet (a node
	// joining) is shown too, rather than hidden until its admission applies.
	for id := range role {
		if !seen[id] {
			nw.Members = append(nw.Members, n.networkMember(id, "", role, nw.Self, now))
		}
	}
	if len(nw.Members) == 0 { // not initialised yet: at least this node
		nw.Members = append(nw.Members, n.networkMember(nw.PeerID, "", role, nw.Self, now))
	}
	slices.SortFunc(nw.Members, func(a, b NetworkMember) int {
		switch {
		case a.PeerID < b.PeerID:
			return -1
		case a.PeerID > b.PeerID:
			return 1
		}
		return 0
	})
	return nw
}

func (n *Node) networkMember(id, http string, role map[string]string, self NodeStats, now time.Time) NetworkMember {
	m := NetworkMember{PeerID: id, HTTP: http, Role: role[id]}
	if m.Role == "" {
		m.Role = "registered"
	}
	if id == n.PeerID() {
		m.Self, m.Reachable, m.Known = true, true, true
		m.Capacity, m.Free, m.Stored, m.Version, m.Uptime = self.Capacity, self.Free, self.Stored, self.Version, self.Uptime
		m.LedgerIndex = n.ledger.Index()
		if m.HTTP == "" {
			m.HTTP = n.cfg.HTTPAddr
		}
		return m
	}
	if n.feed == nil {
		return m
	}
	p, err := peer.Decode(id)
	if err != nil {
		return m
	}
	fp, ok := n.feed.Peer(p)
	if !ok {
		return m
	}
	st := fp.Status
	m.Known = true
	m.LastSeen = fp.LastSeen
	m.Reachable = now.Sub(fp.LastSeen) < n.cfg.PeerTimeout
	m.Capacity, m.Free, m.Stored = st.Capacity, st.Free, st.Stored
	m.LedgerIndex, m.Version, m.Uptime, m.Latency = st.LedgerIndex, st.Version, st.Uptime, fp.Latency
	if m.HTTP == "" {
		m.HTTP = st.HTTP
	}
	return m
}

// counterValue reads a Prometheus counter's value: the node's counters are
// the one count of each thing, and the dashboard shows them too.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil || m.Counter == nil {
		return 0
	}
	return m.Counter.GetValue()
}

// rateWindow is how far back a rate of the dashboard looks.
const rateWindow = time.Minute

// rateSampler turns a growing count into a rate over about the last
// rateWindow, from samples taken when the rate is asked for (the dashboard
// polls every few seconds), so that it needs no goroutine of its own.
type rateSampler struct {
	mu      sync.Mutex
	samples []rateSample // oldest first, at least rateStep apart
}

type rateSample struct {
	at    time.Time
	count float64
}

// rateStep is the least time between two samples kept.
const rateStep = time.Second

// rate records count at now and returns the rate per second since the
// oldest sample within rateWindow. The first call counts from start (when
// the count was 0), so that quotes made before anyone asked are not
// missed; a zero start: 0 until a second sample.
func (r *rateSampler) rate(now time.Time, count float64, start time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) == 0 && !start.IsZero() && start.Before(now) {
		r.samples = append(r.samples, rateSample{at: start})
	}
	if k := len(r.samples); k == 0 || now.Sub(r.samples[k-1].at) >= rateStep {
		r.samples = append(r.samples, rateSample{at: now, count: count})
	}
	// Keep one sample older than the window, so a rate always spans it.
	drop := 0
	for drop+1 < len(r.samples) && now.Sub(r.samples[drop+1].at) >= rateWindow {
		drop++
	}
	r.samples = r.samples[drop:]
	first := r.samples[0]
	elapsed := now.Sub(first.at).Seconds()
	if elapsed <= 0 || count < first.count {
		return 0
	}
	return (count - first.count) / elapsed
}
