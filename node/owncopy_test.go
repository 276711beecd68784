package node

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/p2p/push"
)

// A holder that reports a chunk bad makes the pusher, which reads chunks
// unhashed, check its own copy: a bad copy is errOwnCopy (no other holder
// would take it) and is queued for repair; a good one leaves the holder's
// error as it is.
func TestCheckOwnCopy(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	n := startDev(t, t.TempDir(), clock)
	ctx := t.Context()
	data := randomBytes(7, 3<<20+100)
	f, err := n.Upload(ctx, Upload{Name: "f", Duration: 86400, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	// Unpaid, its chunks are not for peers; paid, they are.
	root, err := cid.Decode(f.CID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (peerStore{n}).Read(ctx, root, nil); !errors.Is(err, chunk.ErrNotFound) {
		t.Fatalf("an unpaid upload's manifest read for a peer: %v, want ErrNotFound", err)
	}
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); err != nil {
		t.Fatal(err)
	}
	if _, err := (peerStore{n}).Read(ctx, root, nil); err != nil {
		t.Fatalf("a paid file's manifest read for a peer: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.store.Manifest(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	holderSays := func(i int) error {
		return &push.BadChunkError{Index: i, Msg: "wrong bytes"}
	}
	other := errors.New("stream reset")
	if err := n.checkOwnCopy(ctx, m, other); err != other {
		t.Fatalf("other error = %v, want it unchanged", err)
	}
	if err := n.checkOwnCopy(ctx, m, holderSays(1)); errors.Is(err, errOwnCopy) || !errors.Is(err, push.ErrBadChunk) {
		t.Fatalf("intact copy: %v, want the holder's ErrBadChunk", err)
	}

	if got := testutil.ToFloat64(n.metrics.chunkRepairFails); got != 0 {
		t.Fatalf("%v repairs failed with the copy intact", got)
	}
	n.repairMu.Lock()
	queued := len(n.repairing)
	n.repairMu.Unlock()
	if queued != 0 {
		t.Fatalf("%d chunks queued for repair with the copy intact", queued)
	}

	// Flip a byte of chunk 1's file: unhashed reads for peers send it as
	// it is, and the check finds it.
	key := m.Chunks[1].CID.String()[1:] // multibase "b", then the file's name
	var path string
	err = filepath.WalkDir(filepath.Join(n.cfg.DataDir, "chunks", "blocks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) == key {
			path = p
		}
		return err
	})
	if err != nil || path == "" {
		t.Fatalf("chunk 1's file (%s) not found: %v", key, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[10] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := (peerStore{n}).Read(ctx, m.Chunks[1].CID, nil); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read for a peer: %v", err)
	}
	if err := n.checkOwnCopy(ctx, m, holderSays(1)); !errors.Is(err, errOwnCopy) {
		t.Fatalf("bad copy: %v, want errOwnCopy", err)
	}
	if _, err := (peerStore{n}).Read(ctx, m.Chunks[1].CID, nil); !errors.Is(err, chunk.ErrHashMismatch) {
		t.Fatalf("read for a peer of a chunk known bad: %v, want ErrHashMismatch", err)
	}
	// Queued for repair: the repair loop may have taken it already, and
	// failed (a --dev node has no other holder to fetch it from).
	deadline := time.Now().Add(10 * time.Second)
	for {
		n.repairMu.Lock()
		queued := n.repairing[m.Chunks[1].CID]
		n.repairMu.Unlock()
		if queued || testutil.ToFloat64(n.metrics.chunkRepairFails) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bad chunk not queued for repair")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
