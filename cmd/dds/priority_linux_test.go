package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/testnet"
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
	base, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	base = 20 - base // the raw call answers 20 - nice; the daemons inherit it
	if base+daemonNonVoterNice > 19 {
		t.Skipf("the test runs at nice %d already", base)
	}
	stderr := &lockedBuffer{}
	nw, err := testnet.StartProcesses(ctx, testnet.ProcessOptions{
		Binary: ddsBinary(t), Nodes: 6, Dir: t.TempDir(), Stderr: stderr, ExtraArgs: []string{"--log-level", "warn"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Stop() })
	c, err := client.New(nw.Nodes[0].HTTP)
	if err != nil {
		t.Fatal(err)
	}
	roles := func() map[string]string {
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatalf("info: %v\n%s", err, stderr)
		}
		m := map[string]string{}
		for _, q := range info.Quorum {
			m[q.PeerID] = q.Role
		}
		return m
	}
	r := roles()
	nonVoter := -1
	for i, n := range nw.Nodes {
		if r[n.PeerID] == "nonvoter" {
			nonVoter = i
		}
	}
	if nonVoter < 0 {
		t.Fatalf("no non-voter among 6 nodes: %v", r)
	}
	// The roles are checked every status interval (2 s).
	want := func(i, nice int) {
		t.Helper()
		var got string
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if got = threadNices(nw.Nodes[i].PID, nice); got == "" {
				return
			}
		}
		t.Fatalf("%s (%s): %s\n%s", nw.Nodes[i].Name, r[nw.Nodes[i].PeerID], got, stderr)
	}
	want(nonVoter, base+daemonNonVoterNice)
	for i, n := range nw.Nodes {
		if i != nonVoter && threadNices(n.PID, base) != "" {
			t.Errorf("voter %s: %s", n.Name, threadNices(n.PID, base))
		}
	}
}

// threadNices says which threads of process pid do not run at nice: ""
// when all do.
func threadNices(pid, nice int) string {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err.Error()
	}
	var wrong []string
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err != nil {
			continue // exited
		}
		if 20-p != nice {
			wrong = append(wrong, fmt.Sprintf("thread %d at nice %d", tid, 20-p))
		}
	}
	if len(wrong) > 0 {
		return fmt.Sprintf("%d of %d threads not at nice %d: %v", len(wrong), len(ents), nice, wrong)
	}
	return ""
}
