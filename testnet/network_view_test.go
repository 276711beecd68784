package testnet

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
)

// getNetwork reads GET /network of nd, with the client library.
func getNetwork(ctx context.Context, nd *Node) (api.Network, error) {
	c, err := client.New(nd.URL)
	if err != nil {
		return api.Network{}, err
	}
	return c.Network(ctx)
}

// waitNetwork polls nd's /network until ok holds, for at most within.
func waitNetwork(t *testing.T, nd *Node, within time.Duration, what string, ok func(api.Network) bool) api.Network {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	var last api.Network
	for {
		nw, err := getNetwork(ctx, nd)
		if err == nil {
			last = nw
			if ok(nw) {
				return nw
			}
		}
		select {
		case <-ctx.Done():
			b, _ := json.MarshalIndent(last, "", "  ")
			t.Fatalf("%s: not within %v (last error %v); last /network:\n%s", what, within, err, b)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestNetworkViewShowsMembersAndAStoppedOne checks GET /network on a live
// network: the four members with their roles and figures, this node's
// counters after a quote, and a stopped member turning unreachable within
// the peer timeout.
func TestNetworkViewShowsMembersAndAStoppedOne(t *testing.T) {
	const peerTimeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	nw, err := Start(ctx, Options{Nodes: 4, Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel})),
		Config: func(_ int, cfg *node.Config) {
			cfg.StatusInterval = 500 * time.Millisecond
			cfg.PeerTimeout = peerTimeout
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	ids := map[string]int{}
	for i, nd := range nw.Nodes {
		ids[nd.Node.PeerID()] = i
	}
	allUp := func(v api.Network) bool {
		if len(v.Members) != 4 {
			return false
		}
		for _, m := range v.Members {
			if !m.Reachable || m.Capacity == nil {
				return false
			}
		}
		return true
	}
	v := waitNetwork(t, nw.Nodes[0], 20*time.Second, "every member reachable with its figures", allUp)
	if v.PeerID != nw.Nodes[0].Node.PeerID() || v.Leader == "" || v.LedgerIndex == 0 {
		t.Errorf("peer %s leader %q index %d", v.PeerID, v.Leader, v.LedgerIndex)
	}
	selves := 0
	for _, m := range v.Members {
		if _, ok := ids[m.PeerID]; !ok {
			t.Errorf("member %s is none of the network's nodes", m.PeerID)
		}
		if m.Role != "voter" { // the first five nodes are voters
			t.Errorf("member %s role %q", m.PeerID, m.Role)
		}
		if m.Self {
			selves++
			if m.PeerID != v.PeerID {
				t.Errorf("self is %s, node is %s", m.PeerID, v.PeerID)
			}
		} else if m.LastSeen == nil || m.Version == "" || m.HTTP == "" {
			t.Errorf("member %s: last seen %v, version %q, http %q", m.PeerID, m.LastSeen, m.Version, m.HTTP)
		}
	}
	if selves != 1 {
		t.Errorf("%d members marked self", selves)
	}

	c, err := client.New(nw.Nodes[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("network view "), 1000)
	if _, err := c.Upload(ctx, bytes.NewReader(data), client.UploadOptions{Name: "v.bin", Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	v = waitNetwork(t, nw.Nodes[0], 5*time.Second, "the quote counted", func(v api.Network) bool { return v.Node.Quotes == 1 })
	if v.Node.UploadBytes != int64(len(data)) || v.Node.HTTPBytesIn < int64(len(data)) || v.Node.QuotesPerSecond <= 0 {
		t.Errorf("after one quote of %d bytes: %+v", len(data), v.Node)
	}

	stopped := nw.Nodes[3].Node.PeerID()
	if err := nw.Stop(3); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	v = waitNetwork(t, nw.Nodes[0], peerTimeout+10*time.Second, "the stopped member unreachable", func(v api.Network) bool {
		for _, m := range v.Members {
			if m.PeerID == stopped {
				return !m.Reachable
			}
		}
		return false
	})
	t.Logf("node3 unreachable after %v", time.Since(start).Round(100*time.Millisecond))
	for _, m := range v.Members {
		if m.PeerID != stopped && !m.Reachable {
			t.Errorf("member %s unreachable too", m.PeerID)
		}
	}
}
