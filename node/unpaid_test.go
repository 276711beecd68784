package node

import (
	"bytes"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/ddsnet/dds/billing"
)

// TestUnpaidUploadsNotServed: an unpaid upload's manifest and chunks are
// not served to peers, across a restart too (loadUnpaid); once its quote
// lapses the sweep forgets it.
func TestUnpaidUploadsNotServed(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	n := startDev(t, dir, clock)
	ctx := t.Context()
	f, err := n.Upload(ctx, Upload{Name: "f", Duration: 86400, Body: bytes.NewReader(randomBytes(3, 2<<20+7))})
	if err != nil {
		t.Fatal(err)
	}
	root, err := cid.Decode(f.CID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.store.Manifest(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	unserved := func(n *Node) bool {
		if n.servable(t.Context(), root) {
			return false
		}
		for _, r := range m.Chunks {
			if n.servable(t.Context(), r.CID) {
				return false
			}
		}
		return true
	}
	if !unserved(n) {
		t.Fatal("an unpaid upload is served to peers")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = startDev(t, dir, clock)
	if !unserved(n) {
		t.Fatal("started again, the node serves an unpaid upload to peers")
	}
	n.sweepUnpaid()
	if !unserved(n) {
		t.Fatal("the sweep forgot an upload whose quote is open")
	}
	clock.Advance(time.Hour) // past the quote's lifetime
	n.sweep(ctx)
	n.sweepUnpaid()
	if len(n.unpaid.ids()) != 0 {
		t.Fatalf("uploads %v kept after their quote lapsed", n.unpaid.ids())
	}
}

// TestStagedBytesKeptUntilPlaced: the staged bytes of an upload are kept
// while its quote waits and, once paid, until all its copies are placed,
// an extension quoted meanwhile included.
func TestStagedBytesKeptUntilPlaced(t *testing.T) {
	for _, c := range []struct {
		state   billing.FileState
		holders int
		keep    bool
	}{
		{billing.StateQuoted, 0, true},
		{billing.StateStoring, 0, true},
		{billing.StateStoring, 2, true},
		{billing.StateExtensionQuoted, 0, true},
		{billing.StateExtensionQuoted, 2, true},
		{billing.StateExtensionQuoted, 3, false},
		{billing.StateStored, 3, false},
		{billing.StateExpired, 0, false},
		{billing.StateCancelled, 0, false},
	} {
		f := billing.File{State: c.state, Holders: make([]string, c.holders)}
		if got := stagedNeeded(f, 3); got != c.keep {
			t.Errorf("%s with %d of 3 holders: staged bytes kept %v, want %v", c.state, c.holders, got, c.keep)
		}
	}
}
