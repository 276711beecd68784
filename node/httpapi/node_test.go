package httpapi

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ddsnet/dds/node"
)

// newNodeServer serves a real --dev node (chunk store, raft ledger, libp2p
// host) through the API, for tests that must see what the node really does.
func newNodeServer(t testing.TB, opts ...func(*Config)) (*Server, *node.Node) {
	t.Helper()
	nc := node.DefaultConfig()
	nc.DataDir = t.TempDir()
	nc.Dev = true
	nc.HTTPAddr = "127.0.0.1:0"
	nc.P2PAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	nc.ExpiryInterval, nc.GCInterval = time.Hour, time.Hour
	nc.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return testServer(t, n, n.Records(), opts...), n
}
