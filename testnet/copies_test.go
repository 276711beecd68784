package testnet

import (
	"bytes"
	"io"
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
	nw := startStorageNet(t, 5, 3, nil)
	ctx := t.Context()
	f, issuer, payer := paidWhileIssuerCut(t, nw, bytes.Repeat([]byte("only here "), 5000))
	pc := clientOf(t, nw.Nodes[payer])
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
	nw := startStorageNet(t, 5, 3, nil)
	ctx := t.Context()
	data := bytes.Repeat([]byte("extended early "), 7000)
	f, issuer, other := paidWhileIssuerCut(t, nw, data)
	oc := clientOf(t, nw.Nodes[other])
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

// paidWhileIssuerCut uploads data (a term of an hour) at a node that does
// not lead, cuts that node off, and pays the file at another: the file is
// paid, and its only copy is on the node cut off. It returns the file, the
// issuer and the node that took the payment.
func paidWhileIssuerCut(t *testing.T, nw *Network, data []byte) (f *client.File, issuer, payer int) {
	t.Helper()
	lead := leaderIndex(t, nw)
	issuer, payer = (lead+1)%len(nw.Nodes), (lead+2)%len(nw.Nodes)
	f, err := clientOf(t, nw.Nodes[issuer]).Upload(t.Context(), bytes.NewReader(data), client.UploadOptions{Name: "cut.bin", Size: int64(len(data)), Duration: 3600})
	if err != nil {
		t.Fatal(err)
	}
	converge(t, nw)
	nw.Partition(issuer)
	if _, err := clientOf(t, nw.Nodes[payer]).Pay(t.Context(), f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
		t.Fatal(err)
	}
	return f, issuer, payer
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
