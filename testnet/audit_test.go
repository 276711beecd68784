package testnet

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/p2p/audit"
)

// startAuditNet starts a storage network of n nodes (see startStorageNet)
// whose holders audit each other every 150 ms.
func startAuditNet(t *testing.T, n int) *Network {
	t.Helper()
	return startStorageNet(t, n, 3, func(_ int, cfg *node.Config) { cfg.AuditInterval = 150 * time.Millisecond })
}

// holderOtherThan0 is the index of a holder of f that is not node0.
func holderOtherThan0(t *testing.T, nw *Network, f *client.File) int {
	t.Helper()
	for i, nd := range nw.Nodes {
		if i > 0 && slices.Contains(f.Replicas, nd.Node.PeerID()) {
			return i
		}
	}
	t.Fatalf("node0 holds %s alone", f.ID)
	return -1
}

// counter reads a counter of a node's metrics, summed over its labels.
func counter(t *testing.T, nd *Node, name string) float64 {
	t.Helper()
	return counterWith(t, nd, name, "")
}

// counterWith reads a counter of a node's metrics, summed over the series
// with a label of the given value ("" sums them all).
func counterWith(t *testing.T, nd *Node, name, value string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range nd.Node.Collectors() {
		reg.MustRegister(c)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := value == ""
			for _, l := range m.GetLabel() {
				match = match || l.GetValue() == value
			}
			if match {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// lieToAudits makes nd answer every challenge with a made-up proof.
func lieToAudits(nd *Node) {
	nd.Node.Libp2p().SetStreamHandler(audit.Protocol, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(s, 1024))
		reply := make([]byte, 1+sha256.Size) // status ok, a proof of nothing
		_, _ = rand.Read(reply[1:])
		_, _ = s.Write(reply)
	})
}

// ignoreAudits makes nd read every challenge and leave it unanswered past
// the auditor's timeout, while it stays up and on the status feed.
func ignoreAudits(t *testing.T, nd *Node, auditTimeout time.Duration) {
	done := make(chan struct{})
	var (
		mu       sync.Mutex
		closed   bool
		handlers sync.WaitGroup
	)
	t.Cleanup(func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		close(done)
		handlers.Wait()
	})
	nd.Node.Libp2p().SetStreamHandler(audit.Protocol, func(s network.Stream) {
		mu.Lock()
		if closed {
			mu.Unlock()
			_ = s.Reset()
			return
		}
		handlers.Add(1)
		mu.Unlock()
		defer handlers.Done()
		_, _ = io.Copy(io.Discard, io.LimitReader(s, 1024))
		select {
		case <-time.After(auditTimeout + time.Second):
		case <-done:
		}
		_ = s.Reset()
	})
}

// chunkFiles maps each chunk file under a node's store to its bytes' hash.
func chunkFiles(t *testing.T, nd *Node) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(filepath.Join(nd.DataDir, "chunks", "blocks"), func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".tmp") {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // renamed or collected meanwhile
		}
		if err != nil {
			return err
		}
		out[path] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// spoil flips a byte in every chunk file of nd's store, as a failing disk
// would.
func spoil(t *testing.T, nd *Node) {
	t.Helper()
	files := chunkFiles(t, nd)
	if len(files) == 0 {
		t.Fatal("no chunk files to spoil")
	}
	for path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/3] ^= 0x5a
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// waitRepaired waits, up to limit, until nd has repaired chunks and every
// chunk file in its store holds the bytes of a chunk of data (1 MiB
// chunks); it returns the repairs counted.
func waitRepaired(t *testing.T, nd *Node, data []byte, limit time.Duration) float64 {
	t.Helper()
	good := chunkHashes(data, 1<<20)
	deadline := time.Now().Add(limit)
	for {
		repaired := counter(t, nd, "dds_chunk_repairs_total")
		intact := true
		for _, h := range chunkFiles(t, nd) {
			intact = intact && good[h]
		}
		if repaired > 0 && intact {
			return repaired
		}
		if time.Now().After(deadline) {
			t.Fatalf("not repaired in %v: %v repairs, files intact %v", limit, repaired, intact)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func chunkHashes(data []byte, size int) map[[32]byte]bool {
	out := map[[32]byte]bool{}
	for off := 0; off < len(data); off += size {
		out[sha256.Sum256(data[off:min(off+size, len(data))])] = true
	}
	return out
}

// A holder whose chunk files went bad on disk finds out when the other
// holders audit it, fetches good copies, and every node keeps reading the
// file intact.
func TestCorruptCopyFoundByAuditAndRepaired(t *testing.T) {
	nw := startAuditNet(t, 4)
	ctx := t.Context()
	data := patterned(11, 4<<20+999)
	f := storePaid(t, nw, data, 3600, 3)
	x := holderOtherThan0(t, nw, f)
	spoil(t, nw.Nodes[x])
	repaired := waitRepaired(t, nw.Nodes[x], data, 60*time.Second)
	t.Logf("node%d repaired %v chunks", x, repaired)
	var audits float64
	for i, nd := range nw.Nodes {
		if i != x {
			audits += counter(t, nd, "dds_audits_total")
		}
	}
	if audits == 0 {
		t.Fatal("no audits ran")
	}
	for i := range nw.Nodes {
		body, _, err := clientOf(t, nw.Nodes[i]).Download(ctx, f.ID, 0, -1)
		if err != nil {
			t.Fatalf("download at node%d: %v", i, err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("download at node%d: %d bytes, intact %v, %v", i, len(got), bytes.Equal(got, data), err)
		}
	}
}

// A holder that answers audits with made-up proofs is dropped at once and
// the file is copied to another node.
func TestHolderLyingToAuditsIsReplaced(t *testing.T) {
	nw := startAuditNet(t, 4)
	dishonestHolderIsReplaced(t, nw, lieToAudits)
}

// TestHolderIgnoringAuditsIsReplaced: a holder that stays up and publishes
// its status but never answers a challenge fails its audits (no answer in
// time is a failure) and is replaced like one that lies.
func TestHolderIgnoringAuditsIsReplaced(t *testing.T) {
	const timeout = 2 * time.Second
	nw := startStorageNet(t, 4, 3, func(_ int, cfg *node.Config) {
		cfg.AuditInterval, cfg.AuditTimeout = 150*time.Millisecond, timeout
	})
	dishonestHolderIsReplaced(t, nw, func(nd *Node) { ignoreAudits(t, nd, timeout) })
}

// dishonestHolderIsReplaced stores a paid file, makes one of its holders
// other than node0 misbehave, and waits until the file is stored on 3
// holders without it, each with the chunks; the file still reads whole at
// the dropped node.
func dishonestHolderIsReplaced(t *testing.T, nw *Network, misbehave func(*Node)) {
	t.Helper()
	ctx := t.Context()
	data := patterned(12, 2<<20+5)
	f := storePaid(t, nw, data, 3600, 3)
	x := holderOtherThan0(t, nw, f)
	liar := nw.Nodes[x].Node.PeerID()
	misbehave(nw.Nodes[x])
	c0 := clientOf(t, nw.Nodes[0])
	deadline := time.Now().Add(60 * time.Second)
	for {
		info, err := c0.File(ctx, f.ID)
		if err == nil && info.State == api.StateStored && len(info.Replicas) == 3 && !slices.Contains(info.Replicas, liar) {
			for _, h := range info.Replicas {
				for _, nd := range nw.Nodes {
					if nd.Node.PeerID() == h && !nd.Node.Holds(ctx, f.ID) {
						t.Fatalf("new holder %s lacks chunks", h)
					}
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dishonest node%d still a holder: %+v, %v", x, info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	body, _, err := clientOf(t, nw.Nodes[x]).Download(ctx, f.ID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	if got, err := io.ReadAll(body); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download at the dropped node: %d bytes, %v", len(got), err)
	}
}

// A node that holds none of a file audits its holders: it fetches a chunk
// from one and challenges the others with it. Here it is the only
// auditor (the holders audit once an hour, and it is too small to hold
// the file): its audits pass the honest holders, and a holder that makes
// up its proofs is dropped.
func TestOutsiderAuditsHolders(t *testing.T) {
	nw, out, _, f := outsiderNet(t, 100*time.Millisecond, 13)
	ctx := t.Context()
	deadline := time.Now().Add(30 * time.Second)
	for counterWith(t, out, "dds_audits_total", "pass") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the outsider passed %v audits in 30 s", counterWith(t, out, "dds_audits_total", "pass"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := counterWith(t, out, "dds_audits_total", "fail"); n != 0 {
		t.Fatalf("the outsider failed %v audits of honest holders", n)
	}
	for i, nd := range nw.Nodes {
		if nd != out && counter(t, nd, "dds_audits_total") != 0 {
			t.Fatalf("node%d audited: the test means the outsider alone to", i)
		}
	}

	x := holderOtherThan0(t, nw, f)
	liar := nw.Nodes[x].Node.PeerID()
	lieToAudits(nw.Nodes[x])
	c0 := clientOf(t, nw.Nodes[0])
	for {
		info, err := c0.File(ctx, f.ID)
		if err == nil && !slices.Contains(info.Replicas, liar) {
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("liar node%d still a holder: %+v, %v", x, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := counterWith(t, out, "dds_audits_total", "fail"); n == 0 {
		t.Fatal("the liar was dropped with no failed audit at the outsider")
	}
}

// Holders send chunks unhashed (the receiver verifies), so a holder whose
// disk spoiled a chunk serves the bad bytes. An outsider's audit that
// fetches them must not take it for a liar (dropped at once): it
// challenges that holder with good bytes from another, the holder's own
// read finds its copy bad, it repairs it before the next round (a second
// strike would drop it) and stays a holder.
func TestOutsiderSparesSpoiledHolder(t *testing.T) {
	// Every chunk of x's copy is spoiled.
	nw, out, data, f := outsiderNet(t, time.Second, 17)
	ctx := t.Context()
	x := holderOtherThan0(t, nw, f)
	spoil(t, nw.Nodes[x])
	waitRepaired(t, nw.Nodes[x], data, 30*time.Second)
	if got, err := nw.Nodes[0].Node.File(ctx, f.ID); err != nil || !slices.Contains(got.Replicas, nw.Nodes[x].Node.PeerID()) {
		t.Fatalf("node%d, whose copy went bad, is no longer a holder: %v, %v", x, got.Replicas, err)
	}
	if n := counterWith(t, out, "dds_audits_total", "fail"); n == 0 {
		t.Fatal("the outsider counted no failed audit: the test proves nothing")
	}
}

// outsiderNet starts 4 nodes in which node 3 (the outsider) audits every
// interval and has no room for the file it stores (data, seeded from
// seed, 3 replicas), while the holders audit once an hour: the outsider
// is its only auditor.
func outsiderNet(t *testing.T, interval time.Duration, seed uint64) (nw *Network, out *Node, data []byte, f *client.File) {
	t.Helper()
	const outsider = 3
	nw = startStorageNet(t, 4, 3, func(i int, cfg *node.Config) {
		cfg.AuditInterval = time.Hour
		if i == outsider {
			cfg.AuditInterval = interval
			cfg.Capacity = 1 << 20
		}
	})
	data = patterned(seed, 2<<20+5) // larger than the outsider's room
	f = storePaid(t, nw, data, 3600, 3)
	out = nw.Nodes[outsider]
	if slices.Contains(f.Replicas, out.Node.PeerID()) {
		t.Fatalf("the outsider holds the file: %v", f.Replicas)
	}
	return nw, out, data, f
}
