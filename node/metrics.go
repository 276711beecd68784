package node

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddsnet/dds/billing"
)

// Metrics read from the ledger, the feed and the host at scrape time: a
// gauge kept up to date on every change would cost every ledger apply
// some work for a number read every 15 s or so.
var (
	descPeers = prometheus.NewDesc("dds_peers_connected",
		"Peers this node's libp2p host is connected to (members or not).", nil, nil)
	descMembers = prometheus.NewDesc("dds_members",
		"Nodes registered in the ledger (removed ones left out), by role in the ledger's group (voter, nonvoter, registered: not in the group) and by whether this node heard from them on the status feed within the peer timeout (itself always reachable).",
		[]string{"role", "reachable"}, nil)
	descFiles = prometheus.NewDesc("dds_files",
		"File records in the ledger by state (quoted, storing, stored, extension_quoted; expired, cancelled and deleted until forgotten).",
		[]string{"state"}, nil)
	descShort = prometheus.NewDesc("dds_files_short_of_copies",
		"Paid, live files with fewer holders recorded in the ledger than the network's replicas setting: being placed or repaired.", nil, nil)
	descChunkBytes = prometheus.NewDesc("dds_p2p_block_bytes_total",
		"Chunk and manifest bytes moved between nodes, by protocol (push: placing and repairing copies; fetch: reads and repairs from holders) and direction.",
		[]string{"protocol", "direction"}, nil)
	descCapacity = prometheus.NewDesc("dds_capacity_bytes",
		"Space this node offers to the network (--capacity); dds_capacity_free_bytes is what is left of it.", nil, nil)
)

// fileStates are the states dds_files always reports, 0 when none: a
// series that appears only once a file reaches its state breaks rate()
// and alerts.
var fileStates = []billing.FileState{
	billing.StateQuoted, billing.StateStoring, billing.StateStored, billing.StateExtensionQuoted,
	billing.StateExpired, billing.StateCancelled, billing.StateDeleted,
}

// memberRoles are the roles dds_members always reports.
var memberRoles = []string{"voter", "nonvoter", "registered"}

// scrapeCollector is the node's prometheus.Collector of the metrics above.
type scrapeCollector struct{ n *Node }

func (c scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descMembers, descFiles, descShort, descChunkBytes, descCapacity} {
		ch <- d
	}
}

func (c scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(n.cfg.Capacity))
	if n.host != nil {
		ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(len(n.host.Peers())))
	}
	if n.push != nil {
		ch <- prometheus.MustNewConstMetric(descChunkBytes, prometheus.CounterValue, float64(n.push.Sent()), "push", "sent")
		ch <- prometheus.MustNewConstMetric(descChunkBytes, prometheus.CounterValue, float64(n.push.Received()), "push", "received")
	}
	if n.fetch != nil {
		ch <- prometheus.MustNewConstMetric(descChunkBytes, prometheus.CounterValue, float64(n.fetch.Served()), "fetch", "sent")
		ch <- prometheus.MustNewConstMetric(descChunkBytes, prometheus.CounterValue, float64(n.fetch.Fetched()), "fetch", "received")
	}
	if n.ledger == nil || n.raft == nil {
		return
	}
	var (
		byState map[billing.FileState]int
		short   int
		nodes   []billing.Node
		removed = map[string]bool{}
	)
	n.ledger.Read(func(st *billing.State) {
		byState, short = st.Census()
		nodes = st.Nodes()
		for _, nd := range nodes {
			removed[nd.PeerID] = st.Removed(nd.PeerID)
		}
	})
	for _, s := range fileStates {
		ch <- prometheus.MustNewConstMetric(descFiles, prometheus.GaugeValue, float64(byState[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(descShort, prometheus.GaugeValue, float64(short))

	rs := n.raft.Status()
	role := map[string]string{}
	for _, v := range rs.Voters {
		role[v] = "voter"
	}
	for _, v := range rs.NonVoters {
		role[v] = "nonvoter"
	}
	reachable := n.reachable()
	count := map[[2]string]int{}
	for _, nd := range nodes {
		if removed[nd.PeerID] {
			continue
		}
		r := role[nd.PeerID]
		if r == "" {
			r = "registered"
		}
		count[[2]string{r, yesNo(reachable(nd.PeerID))}]++
	}
	for _, r := range memberRoles {
		for _, ok := range []string{"yes", "no"} {
			ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(count[[2]string{r, ok}]), r, ok)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// reachable returns whether a peer id is this node, or a peer the status
// feed heard from within the peer timeout (every peer in --dev, which has
// no feed and no peers).
func (n *Node) reachable() func(string) bool {
	if n.feed == nil {
		return func(string) bool { return true }
	}
	live := map[string]bool{n.PeerID(): true}
	for _, p := range n.feed.Live(n.cfg.PeerTimeout) {
		live[p.Status.PeerID] = true
	}
	return func(id string) bool { return live[id] }
}

// Quote refusals, by the reason dds_quotes_refused_total gives.
const (
	refusedInvalid     = "invalid"     // the request was wrong (name, duration, ...)
	refusedTooLarge    = "too_large"   // over --max-upload
	refusedNoRoom      = "no_room"     // the node's capacity or disk is full
	refusedUnavailable = "unavailable" // no billing quorum, too few attesters
	refusedCanceled    = "canceled"    // the client went away
	refusedOther       = "other"
)

// refusedReasons are the reasons dds_quotes_refused_total always reports.
var refusedReasons = []string{refusedInvalid, refusedTooLarge, refusedNoRoom, refusedUnavailable, refusedCanceled, refusedOther}

// refusedReason classifies the error of an upload that got no quote.
func refusedReason(err error) string {
	switch {
	case errors.Is(err, ErrInvalid):
		return refusedInvalid
	case errors.Is(err, ErrTooLarge):
		return refusedTooLarge
	case errors.Is(err, ErrInsufficientStorage):
		return refusedNoRoom
	case errors.Is(err, ErrUnavailable):
		return refusedUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return refusedCanceled
	}
	return refusedOther
}

// countRefusal counts an upload that got no quote (err not nil).
func (n *Node) countRefusal(err error) {
	if err != nil {
		n.metrics.quotesRefused.WithLabelValues(refusedReason(err)).Inc()
	}
}
