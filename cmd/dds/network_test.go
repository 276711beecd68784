package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ddsnet/dds/client"
)

// TestLeaderKilledMidLoad kills the ledger's leader with SIGKILL while a
// node takes uploads: a new leader comes within seconds, writes resume,
// every acknowledged quote survives, and the old leader restarts and
// catches up. Five nodes, so that four are left to quote (an issuer and
// three attesters).
func TestLeaderKilledMidLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	nw, stderr := startNetwork(ctx, t, 5)
	var err error
	clients := make([]*client.Client, len(nw.Nodes))
	for i, n := range nw.Nodes {
		if clients[i], err = client.New(n.HTTP); err != nil {
			t.Fatal(err)
		}
	}
	st, err := clients[0].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lead := -1
	for i, n := range nw.Nodes {
		if n.PeerID == st.Leader {
			lead = i
		}
	}
	if lead < 0 {
		t.Fatalf("leader %q is not a node of the network", st.Leader)
	}
	at := (lead + 1) % len(nw.Nodes)
	var acked []string
	upload := func() error {
		f, err := clients[at].Upload(ctx, strings.NewReader(fmt.Sprint("load ", len(acked))), client.UploadOptions{Name: "l", Size: -1})
		if err == nil {
			acked = append(acked, f.ID)
		}
		return err
	}
	for range 10 {
		if err := upload(); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Kill(lead); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for {
		if err := upload(); err == nil {
			break
		} else if time.Since(killed) > 30*time.Second {
			t.Fatalf("no write accepted 30 s after the leader was killed: %v\n%s", err, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("writes resumed %v after SIGKILL of the leader", time.Since(killed).Round(time.Millisecond))
	for range 10 {
		if err := upload(); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Restart(ctx, lead); err != nil {
		t.Fatal(err)
	}
	restarted, err := client.New(nw.Nodes[lead].HTTP)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range acked {
		for i, c := range append(clients, restarted) {
			if i == lead {
				continue // its old client points at the dead process's port: the restart keeps it, but check once
			}
			for {
				_, err := c.File(ctx, id)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("acknowledged file %s missing at node %d: %v", id, i, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}
