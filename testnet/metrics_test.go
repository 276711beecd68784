package testnet

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/node"
)

// samples gathers n's metrics as "name{label="value",...}" -> value, the
// labels sorted by name.
func samples(t *testing.T, n *node.Node) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			key := mf.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// members sums dds_members over roles, for reachable "yes" or "no".
func members(s map[string]float64, reachable string) float64 {
	var sum float64
	for _, role := range []string{"voter", "nonvoter", "registered"} {
		sum += s[fmt.Sprintf(`dds_members{reachable=%q,role=%q}`, reachable, role)]
	}
	return sum
}

// eventsOf counts n's events of kind about peer.
func eventsOf(n *node.Node, kind, peer string) int {
	return len(slices.DeleteFunc(n.Events(), func(e node.Event) bool { return e.Kind != kind || e.Peer != peer }))
}

// TestNetworkMetricsAndEvents: the metrics read at scrape time (peers,
// members by role and reachability, files by state, files short of
// copies, bytes pushed and fetched, quote refusals) agree with what the
// network did; a member stopped is reported unreachable once, back once,
// and its removal once.
func TestNetworkMetricsAndEvents(t *testing.T) {
	nw := startStorageNet(t, 4, 3, nil)
	ctx := t.Context()
	n0 := nw.Nodes[0].Node
	data := patterned(11, 300<<10)
	f := storePaid(t, nw, data, 3600, 3)

	waitFor(t, 10*time.Second, "node0 hears every member", func() (bool, string) {
		s := samples(t, n0)
		return members(s, "yes") == 4 && members(s, "no") == 0 && s["dds_peers_connected"] == 3, fmt.Sprint(s)
	})
	var pushed, received float64
	for i, nd := range nw.Nodes {
		s := samples(t, nd.Node)
		if s[`dds_files{state="stored"}`] != 1 || s[`dds_files{state="storing"}`] != 0 || s["dds_files_short_of_copies"] != 0 {
			t.Errorf("node%d: files stored %v storing %v short %v, want 1 0 0", i,
				s[`dds_files{state="stored"}`], s[`dds_files{state="storing"}`], s["dds_files_short_of_copies"])
		}
		if s["dds_capacity_bytes"] <= 0 || s["dds_capacity_bytes"] < s["dds_capacity_free_bytes"] {
			t.Errorf("node%d: capacity %v, free %v", i, s["dds_capacity_bytes"], s["dds_capacity_free_bytes"])
		}
		pushed += s[`dds_p2p_block_bytes_total{direction="sent",protocol="push"}`]
		received += s[`dds_p2p_block_bytes_total{direction="received",protocol="push"}`]
	}
	// The issuer keeps its copy or pushes three: at least two pushed.
	if pushed < float64(2*len(data)) || received != pushed {
		t.Errorf("push bytes: sent %v, received %v; want equal and at least %d", pushed, received, 2*len(data))
	}

	// A node that holds no copy reads the file from the holders.
	holders := indexes(t, nw, f.Replicas)
	reader := slices.IndexFunc(nw.Nodes, func(nd *Node) bool { return !holders[slices.Index(nw.Nodes, nd)] })
	before := samples(t, nw.Nodes[reader].Node)[`dds_p2p_block_bytes_total{direction="received",protocol="fetch"}`]
	body, _, err := clientOf(t, nw.Nodes[reader]).Download(ctx, f.ID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_, err = got.ReadFrom(body)
	body.Close()
	if err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("download at node%d: %v", reader, err)
	}
	var served float64
	for _, nd := range nw.Nodes {
		served += samples(t, nd.Node)[`dds_p2p_block_bytes_total{direction="sent",protocol="fetch"}`]
	}
	after := samples(t, nw.Nodes[reader].Node)[`dds_p2p_block_bytes_total{direction="received",protocol="fetch"}`]
	if after-before < float64(len(data)) || served < after {
		t.Errorf("fetch bytes at node%d: received %v -> %v, served by all %v; want at least %d more received", reader, before, after, served, len(data))
	}

	// An upload refused before its quote is counted by reason.
	if _, err := n0.Upload(ctx, node.Upload{Name: "", Body: bytes.NewReader([]byte("x"))}); err == nil {
		t.Fatal("an upload without a name was quoted")
	}
	if s := samples(t, n0); s[`dds_quotes_refused_total{reason="invalid"}`] != 1 || s[`dds_quotes_refused_total{reason="other"}`] != 0 {
		t.Errorf("refusals: invalid %v other %v, want 1 0", s[`dds_quotes_refused_total{reason="invalid"}`], s[`dds_quotes_refused_total{reason="other"}`])
	}

	// node3 stops: node0 says so once, and counts it unreachable.
	id3 := nw.Nodes[3].Node.PeerID()
	if err := nw.Stop(3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "node0 reports node3 gone", func() (bool, string) {
		s := samples(t, n0)
		return eventsOf(n0, node.EventPeerGone, id3) == 1 && members(s, "no") == 1 && members(s, "yes") == 3,
			fmt.Sprintf("events %d, members no %v yes %v", eventsOf(n0, node.EventPeerGone, id3), members(s, "no"), members(s, "yes"))
	})
	time.Sleep(500 * time.Millisecond) // five status intervals more: no repeat
	if k := eventsOf(n0, node.EventPeerGone, id3); k != 1 {
		t.Errorf("node3 gone reported %d times, want once", k)
	}
	if err := nw.Restart(ctx, 3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "node0 reports node3 back", func() (bool, string) {
		return eventsOf(n0, node.EventPeerBack, id3) == 1 && members(samples(t, n0), "no") == 0, fmt.Sprint(eventsOf(n0, node.EventPeerBack, id3))
	})

	// node3 removed by the admission key: each node says so once.
	key, err := loadAdmission(nw.opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	r := billing.SignRemoval(key, id3, time.Now())
	if err := n0.RemoveMember(ctx, id3, r.At, r.Signature); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		nd := nw.Nodes[i].Node
		waitFor(t, 15*time.Second, fmt.Sprintf("node%d reports node3 removed", i), func() (bool, string) {
			return eventsOf(nd, node.EventMemberRemoved, id3) == 1, fmt.Sprint(eventsOf(nd, node.EventMemberRemoved, id3))
		})
	}
	time.Sleep(500 * time.Millisecond)
	if k := eventsOf(n0, node.EventMemberRemoved, id3); k != 1 {
		t.Errorf("node3's removal reported %d times, want once", k)
	}
	// The network view no longer lists it as a member.
	for _, m := range n0.Network(ctx).Members {
		if m.PeerID == id3 {
			t.Errorf("GET /network still lists removed node3: %+v", m)
		}
	}
}
