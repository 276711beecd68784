package testnet

import (
	"bytes"
	"context"
	"io"
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

// TestExtensionQuotedBeforePlacementIsPlaced: a file paid while the node
// that took its upload is cut off, then given an extension quote before
// any copy is placed, is extension_quoted with no holder. Its issuer, back,
// places it all the same and keeps its staged bytes until then. (It used
// to do neither: placement waited for the state storing, and the staged
// bytes, the only copy of a paid file, were deleted. The fault suite
// found it.)
func TestExtensionQuotedBeforePlacementIsPlaced(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	nw, err := Start(ctx, Options{Nodes: 5, Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel})),
		Config: func(_ int, cfg *node.Config) {
			cfg.StatusInterval, cfg.PeerTimeout, cfg.ExpiryInterval = 100*time.Millisecond, 500*time.Millisecond, 100*time.Millisecond
			cfg.GCInterval = 100 * time.Millisecond
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Close() })
	lead := leaderIndex(t, nw)
	issuer, other := (lead+1)%5, (lead+2)%5
	data := bytes.Repeat([]byte("extended early "), 7000)
	f, err := clientOf(t, nw.Nodes[issuer]).Upload(ctx, bytes.NewReader(data), client.UploadOptions{Name: "early", Size: int64(len(data)), Duration: 3600})
	if err != nil {
		t.Fatal(err)
	}
	converge(t, nw)
	nw.Partition(issuer)
	oc := clientOf(t, nw.Nodes[other])
	if _, err := oc.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
		t.Fatal(err)
	}
	ext, err := oc.Extend(ctx, f.ID, 7200)
	if err != nil {
		t.Fatal(err)
	}
	if ext.State != api.StateExtensionQuoted || len(ext.Replicas) != 0 {
		t.Fatalf("extended before placement: %s with holders %v", ext.State, ext.Replicas)
	}
	nw.Heal(issuer)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := oc.File(ctx, f.ID)
		if err == nil && len(got.Replicas) == 3 {
			if got.State != api.StateExtensionQuoted {
				t.Fatalf("placed: state %s, want the extension quote still open", got.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a paid file with an extension quoted before placement is not placed: %+v %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, nd := range nw.Nodes {
		body, _, err := clientOf(t, nd).Download(ctx, f.ID, 0, -1)
		if err != nil {
			t.Fatalf("download at node%d: %v", i, err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download at node%d: %d bytes, %v", i, len(got), err)
		}
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
