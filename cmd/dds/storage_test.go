package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

// TestKilledHolderIsReplaced stores a file in a network of five `dds
// daemon` processes, kills one of its holders (not the uploader) with
// SIGKILL and waits until the file has three live holders again, none of
// them the dead one; the new holder and a node that never held the file
// serve it byte-exact. Then the uploader, node0, is killed too and another
// node still serves the file.
//
// The daemon has no flags for its timers, so it runs with the defaults: a
// holder is replaced once it has been silent on the status feed for twice
// the 15 s peer timeout, at the next 5 s placement tick.
func TestKilledHolderIsReplaced(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: five daemons and a 30 s wait for a holder to count as gone")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	nw, stderr := startNetwork(ctx, t, 5)
	var err error
	clients := make([]*client.Client, len(nw.Nodes))
	index := map[string]int{}
	for i, n := range nw.Nodes {
		if clients[i], err = client.New(n.HTTP, client.WithBillingToken(n.BillingToken), client.WithPollInterval(50*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		index[n.PeerID] = i
	}

	// No pause here: a holder killed before any peer heard its status is
	// gone too once the feed has run twice the peer timeout.
	const seed, size = 42, 4<<20 + 4321
	want := genSum(seed, size)
	f := putPaid(t, ctx, clients[0], seed, size)
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	stored, err := clients[0].WaitState(wctx, f.ID, nil, api.StateStored)
	if err != nil {
		t.Fatalf("wait for stored: %v\n%s", err, stderr)
	}
	if len(stored.Replicas) != 3 {
		t.Fatalf("replicas %v, want 3", stored.Replicas)
	}
	victim := -1
	for _, h := range stored.Replicas {
		if i, ok := index[h]; ok && i != 0 {
			victim = i
			break
		}
	}
	if victim < 0 {
		t.Fatalf("no holder other than node0 among %v", stored.Replicas)
	}
	victimID := nw.Nodes[victim].PeerID
	if err := nw.Kill(victim); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var repaired *client.File
	for {
		info, err := clients[0].File(ctx, f.ID)
		if err == nil && info.State == api.StateStored && len(info.Replicas) == 3 && !slices.Contains(info.Replicas, victimID) {
			repaired = info
			break
		}
		if time.Since(killed) > 150*time.Second {
			t.Fatalf("150 s after SIGKILL of holder node%d: %+v, %v\n%s", victim, info, err, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("3 live holders again %v after SIGKILL of holder node%d", time.Since(killed).Round(time.Millisecond), victim)

	newHolder := -1
	for _, h := range repaired.Replicas {
		i, ok := index[h]
		if !ok {
			t.Fatalf("holder %s is not a node of the network", h)
		}
		if !slices.Contains(stored.Replicas, h) {
			newHolder = i
		}
	}
	never := -1
	for i, n := range nw.Nodes {
		if i != victim && !slices.Contains(stored.Replicas, n.PeerID) && !slices.Contains(repaired.Replicas, n.PeerID) {
			never = i
		}
	}
	if newHolder < 0 || never < 0 {
		t.Fatalf("holders before %v, after %v: want one new holder and one node that never held the file", stored.Replicas, repaired.Replicas)
	}
	info, err := clients[newHolder].Info(ctx)
	if err != nil || info.Stored < size {
		t.Fatalf("new holder node%d stores %d bytes (%v), want the file's %d", newHolder, info.Stored, err, size)
	}
	if downloadSum(t, ctx, clients[newHolder], f.ID) != want {
		t.Fatalf("download from the new holder node%d differs", newHolder)
	}
	if downloadSum(t, ctx, clients[never], f.ID) != want {
		t.Fatalf("download from node%d, which never held the file, differs", never)
	}

	// Without the uploader too.
	if err := nw.Kill(0); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{never, never, newHolder} {
		start := time.Now()
		if downloadSum(t, ctx, clients[i], f.ID) != want {
			t.Fatalf("download from node%d after node0 was killed differs", i)
		}
		t.Logf("download from node%d after SIGKILL of node0: %v", i, time.Since(start).Round(time.Millisecond))
	}
}
