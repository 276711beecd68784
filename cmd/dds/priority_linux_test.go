package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/internal/cpuprio"
)

// TestNonVotersGiveWayOnTheCPU runs six daemons: the five voters keep the
// CPU priority they started with, the non-voter lowers its own by
// daemonNonVoterNice, every thread of it (node's TestPriorityFollowsTheRole
// has the promotion).
func TestNonVotersGiveWayOnTheCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	base, err := cpuprio.Get() // the daemons inherit it
	if err != nil {
		t.Fatal(err)
	}
	if base+daemonNonVoterNice > 19 {
		t.Skipf("the test runs at nice %d already", base)
	}
	nw, stderr := startNetwork(ctx, t, 6)
	c, err := client.New(nw.Nodes[0].HTTP)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v\n%s", err, stderr)
	}
	nonVoter := -1
	for _, q := range info.Quorum {
		for i, n := range nw.Nodes {
			if q.Role == "nonvoter" && q.PeerID == n.PeerID {
				nonVoter = i
			}
		}
	}
	if nonVoter < 0 {
		t.Fatalf("no non-voter among 6 nodes: %+v", info.Quorum)
	}
	// The node looks at its role every status interval (2 s).
	var got string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if got = threadNices(nw.Nodes[nonVoter].PID, base+daemonNonVoterNice); got == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("non-voter %s: %s\n%s", nw.Nodes[nonVoter].Name, got, stderr)
		}
	}
	for i, n := range nw.Nodes {
		if i != nonVoter && threadNices(n.PID, base) != "" {
			t.Errorf("voter %s: %s", n.Name, threadNices(n.PID, base))
		}
	}
}

// threadNices says which threads of process pid do not run at nice: ""
// when all do.
func threadNices(pid, nice int) string {
	threads, err := cpuprio.Threads(pid)
	if err != nil {
		return err.Error()
	}
	var wrong []string
	for tid, n := range threads {
		if n != nice {
			wrong = append(wrong, fmt.Sprintf("thread %d at nice %d", tid, n))
		}
	}
	if len(wrong) > 0 {
		return fmt.Sprintf("%d of %d threads not at nice %d: %v", len(wrong), len(threads), nice, wrong)
	}
	return ""
}
