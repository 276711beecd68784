package testnet

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
)

// TestPaidFileWithoutReachableCopyIsReported: a file paid while the node
// that took its upload (its only copy) is cut off cannot be placed. The
// other nodes say so, in their log and in dds_files_without_reachable_copy,
// instead of showing it storing without a word; once the issuer is back it
// places the file and the report clears.
func TestPaidFileWithoutReachableCopyIsReported(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	nw, err := Start(ctx, Options{Nodes: 5, Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel})),
		Config: func(_ int, cfg *node.Config) {
			cfg.StatusInterval, cfg.PeerTimeout, cfg.ExpiryInterval = 100*time.Millisecond, 500*time.Millisecond, 100*time.Millisecond
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Close() })
	lead := leaderIndex(t, nw)
	issuer, payer := (lead+1)%5, (lead+2)%5
	data := bytes.Repeat([]byte("only here "), 5000)
	f, err := clientOf(t, nw.Nodes[issuer]).Upload(ctx, bytes.NewReader(data), client.UploadOptions{Name: "alone", Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	converge(t, nw)
	nw.Partition(issuer)
	pc := clientOf(t, nw.Nodes[payer])
	if _, err := pc.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
		t.Fatal(err)
	}
	reported := func() float64 { return gauge(t, nw.Nodes[payer].Node, "dds_files_without_reachable_copy") }
	deadline := time.Now().Add(20 * time.Second)
	for reported() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("a paid file whose only copy is cut off is not reported: gauge %v", reported())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, err := pc.File(ctx, f.ID); err != nil || got.State != api.StateStoring {
		t.Fatalf("the file at node%d: %+v, %v; want storing", payer, got, err)
	}
	if _, _, err := pc.Download(ctx, f.ID, 0, -1); !client.IsCode(err, api.CodeUnavailable) {
		t.Fatalf("download of a file without a reachable copy: %v; want 503", err)
	}

	nw.Heal(issuer)
	if _, err := pc.WaitState(ctx, f.ID, nil, api.StateStored); err != nil {
		t.Fatalf("the issuer back did not place the file: %v", err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for reported() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the report stays after the file was placed: gauge %v", reported())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gauge reads a node's gauge by name (0 when it has none).
func gauge(t *testing.T, n *node.Node, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}
