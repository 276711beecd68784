package testnet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/p2p"
	"github.com/ddsnet/dds/p2p/fetch"
	"github.com/ddsnet/dds/p2p/push"
	"github.com/ddsnet/dds/p2p/wire"
)

// testClock is a node.Clock the test moves by hand, shared by every node
// of a network; safe for concurrent use.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(start time.Time) *testClock { return &testClock{now: start.UTC()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startStorageNet starts n nodes that sweep, collect and publish their
// status quickly, with replicas holders per paid file; adjust (may be nil)
// changes node i's configuration further.
func startStorageNet(t *testing.T, n, replicas int, adjust func(i int, cfg *node.Config)) *Network {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	nw, err := Start(ctx, Options{Nodes: n, Replicas: replicas, Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel})),
		Config: func(i int, cfg *node.Config) {
			cfg.StatusInterval, cfg.PeerTimeout = 100*time.Millisecond, time.Second
			cfg.ExpiryInterval, cfg.GCInterval = 100*time.Millisecond, 200*time.Millisecond
			if adjust != nil {
				adjust(i, cfg)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return nw
}

// storageClient is a client of nd that polls quickly.
func storageClient(t *testing.T, nd *Node) *client.Client {
	t.Helper()
	c, err := client.New(nd.URL, client.WithBillingToken(nd.Token), client.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// patterned returns n pseudo-random bytes, the same for the same seed.
func patterned(seed uint64, n int) []byte {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	mrand.NewChaCha8(s).Read(b)
	return b
}

// uploadPaid uploads data at c's node for term seconds and pays for it.
func uploadPaid(t *testing.T, c *client.Client, data []byte, term int64) *client.File {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f, err := c.Upload(ctx, bytes.NewReader(data), client.UploadOptions{Name: "s.bin", Size: int64(len(data)), Duration: term})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pay(ctx, f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
		t.Fatal(err)
	}
	return f
}

// storePaid uploads and pays for data at node0, waits until it is stored,
// checks it has want holders, and waits until every node's replica of the
// ledger says so (each node answers from its own).
func storePaid(t *testing.T, nw *Network, data []byte, term int64, want int) *client.File {
	t.Helper()
	c := storageClient(t, nw.Nodes[0])
	f := uploadPaid(t, c, data, term)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	stored, err := c.WaitState(ctx, f.ID, nil, api.StateStored)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Replicas) != want || len(slices.Compact(slices.Sorted(slices.Values(stored.Replicas)))) != want {
		t.Fatalf("replicas %v, want %d distinct holders", stored.Replicas, want)
	}
	converge(t, nw)
	return stored
}

// indexes returns the indexes of the nodes with the given peer ids.
func indexes(t *testing.T, nw *Network, ids []string) map[int]bool {
	t.Helper()
	out := map[int]bool{}
	for _, id := range ids {
		found := false
		for i, nd := range nw.Nodes {
			if nd.Node != nil && nd.Node.PeerID() == id {
				out[i], found = true, true
			}
		}
		if !found {
			t.Fatalf("holder %s is not a running node of the network", id)
		}
	}
	return out
}

// blockFiles counts the chunk files in nd's store.
func blockFiles(t *testing.T, nd *Node) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(nd.DataDir, "chunks", "blocks"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond every 20 ms until it holds; after limit the test
// fails with cond's last description of what it saw.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, limit, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawGet sends method to url with a Range header (none when rg is empty)
// and returns the status, the headers and the body.
func rawGet(t *testing.T, method, url, rg string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rg != "" {
		req.Header.Set("Range", rg)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s (Range %q): %v", method, url, rg, err)
	}
	return resp.StatusCode, resp.Header, b
}

// manifestOf splits data as a node does (chunkSize bytes a chunk) and
// returns the manifest, without a store.
func manifestOf(data []byte, chunkSize int64) *chunk.Manifest {
	m := &chunk.Manifest{ChunkSize: chunkSize, Size: int64(len(data))}
	for off := int64(0); off < m.Size; off += chunkSize {
		b := data[off:min(off+chunkSize, m.Size)]
		m.Chunks = append(m.Chunks, chunk.Ref{CID: chunk.Sum(b), Size: int64(len(b))})
	}
	return m
}

// closest is the id among ids XOR-closest to the cid, as the nodes order
// holders (sha256 of the cid's string and of the peer id's bytes).
func closest(t *testing.T, root string, ids []string) string {
	t.Helper()
	target := sha256.Sum256([]byte(root))
	best, bestDist := "", [32]byte{}
	for _, id := range ids {
		p, err := peer.Decode(id)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(p))
		var d [32]byte
		for i := range d {
			d[i] = h[i] ^ target[i]
		}
		if best == "" || bytes.Compare(d[:], bestDist[:]) < 0 {
			best, bestDist = id, d
		}
	}
	return best
}

// TestExpiredLeaseFreedEverywhere moves a shared clock past the end of a
// paid term: every node's ledger marks the lease expired, every holder
// unpins the file and its GC frees the chunks, and every node answers 410
// gone for the bytes.
func TestExpiredLeaseFreedEverywhere(t *testing.T) {
	clock := newTestClock(time.Now())
	nw := startStorageNet(t, 5, 3, func(_ int, cfg *node.Config) { cfg.Clock = clock })
	ctx := t.Context()
	type usage struct {
		bytes int64
		files int
	}
	before := make([]usage, len(nw.Nodes))
	for i, nd := range nw.Nodes {
		before[i] = usage{nd.Node.Info(ctx).Stored, blockFiles(t, nd)}
	}
	const term = 120 // seconds
	data := patterned(1, 3<<20+4321)
	f := storePaid(t, nw, data, term, 3)
	holders := indexes(t, nw, f.Replicas)
	for i := range holders {
		nd := nw.Nodes[i]
		if !nd.Node.Holds(ctx, f.ID) {
			t.Fatalf("holder node%d lacks chunks of the file", i)
		}
		if got := nd.Node.Info(ctx).Stored; got < before[i].bytes+int64(len(data)) {
			t.Fatalf("holder node%d stores %d bytes, want at least %d", i, got, before[i].bytes+int64(len(data)))
		}
	}
	if want := f.StoredAt.Add(term * time.Second); !f.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at %v, want stored_at + %d s = %v", f.ExpiresAt, term, want)
	}

	// A second before the end, sweeps leave the lease alone.
	clock.Advance(f.ExpiresAt.Sub(clock.Now()) - time.Second)
	time.Sleep(500 * time.Millisecond) // five sweeps
	for i, nd := range nw.Nodes {
		if got, err := nd.Node.File(ctx, f.ID); err != nil || got.State != api.StateStored {
			t.Fatalf("node%d: a second before the end: %+v, %v", i, got, err)
		}
	}
	for i := range holders {
		if !nw.Nodes[i].Node.Holds(ctx, f.ID) {
			t.Fatalf("holder node%d let the file go before its term ended", i)
		}
	}

	clock.Advance(2 * time.Second)
	for i, nd := range nw.Nodes {
		waitFor(t, 20*time.Second, fmt.Sprintf("node%d marks the lease expired", i), func() (bool, string) {
			got, err := nd.Node.File(ctx, f.ID)
			return err == nil && got.State == api.StateExpired, fmt.Sprintf("state %q, %v", got.State, err)
		})
	}
	for i, nd := range nw.Nodes {
		waitFor(t, 20*time.Second, fmt.Sprintf("node%d frees the file's chunks", i), func() (bool, string) {
			holds := nd.Node.Holds(ctx, f.ID)
			now := usage{nd.Node.Info(ctx).Stored, blockFiles(t, nd)}
			return !holds && now == before[i], fmt.Sprintf("holds %v, usage %+v, before the upload %+v", holds, now, before[i])
		})
	}
	for i, nd := range nw.Nodes {
		c := storageClient(t, nd)
		_, _, err := c.Download(ctx, f.ID, 0, -1)
		var e *client.Error
		if !errors.As(err, &e) || e.Status != http.StatusGone || e.Code() != api.CodeGone {
			t.Fatalf("node%d: GET of an expired file: %v, want 410 %s", i, err, api.CodeGone)
		}
		if _, _, err := c.Download(ctx, f.ID, 1<<20, 10); !client.IsCode(err, api.CodeGone) {
			t.Fatalf("node%d: range GET of an expired file: %v, want 410 %s", i, err, api.CodeGone)
		}
		if status, _, _ := rawGet(t, http.MethodHead, nd.URL+"/files/"+f.ID, ""); status != http.StatusGone {
			t.Fatalf("node%d: HEAD of an expired file: %d, want 410", i, status)
		}
		info, err := c.File(ctx, f.ID)
		if err != nil || info.State != api.StateExpired {
			t.Fatalf("node%d: info of an expired file: %+v, %v", i, info, err)
		}
	}
}

// TestSmallNodeNeverHolds gives the node XOR-closest to the file's cid
// (the first the issuer would pick after itself) less capacity than the
// file: the file is stored on three other nodes and the small node's store
// stays empty. A push straight to it is refused, while the same push to a
// node with room is taken.
func TestSmallNodeNeverHolds(t *testing.T) {
	const small = 2
	nw := startStorageNet(t, 5, 3, func(i int, cfg *node.Config) {
		if i == small {
			cfg.Capacity = 1 << 20
		}
	})
	ctx := t.Context()
	chunkSize := nw.Nodes[0].Node.Info(ctx).ChunkSize
	var others []string
	for _, nd := range nw.Nodes[1:] {
		others = append(others, nd.Node.PeerID())
	}
	smallID := nw.Nodes[small].Node.PeerID()
	// Data whose cid is closest to the small node, so that placement by
	// distance alone would choose it.
	var data []byte
	var m *chunk.Manifest
	for seed := uint64(100); ; seed++ {
		data = patterned(seed, 2<<20+999)
		m = manifestOf(data, chunkSize)
		if closest(t, m.CID().String(), others) == smallID {
			break
		}
		if seed > 400 {
			t.Fatal("no data found whose cid is closest to the small node")
		}
	}
	f := storePaid(t, nw, data, 3600, 3)
	if f.CID != m.CID().String() {
		t.Fatalf("the node's cid %s differs from the test's %s: the test's premise is wrong", f.CID, m.CID())
	}
	if slices.Contains(f.Replicas, smallID) {
		t.Fatalf("the small node holds the file: %v", f.Replicas)
	}
	for i := range indexes(t, nw, f.Replicas) {
		if !nw.Nodes[i].Node.Holds(ctx, f.ID) {
			t.Fatalf("holder node%d lacks chunks of the file", i)
		}
	}
	empty := func(when string) {
		t.Helper()
		sn := nw.Nodes[small]
		if sn.Node.Holds(ctx, f.ID) {
			t.Fatalf("%s: the small node holds the file", when)
		}
		if st, n := sn.Node.Info(ctx).Stored, blockFiles(t, sn); st != 0 || n != 0 {
			t.Fatalf("%s: the small node stores %d bytes in %d chunk files, want none", when, st, n)
		}
	}
	empty("after placement")

	// Push the file straight to the small node from a host of the test's.
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(ctx, p2p.Config{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := nw.Admit(ctx, h.ID()); err != nil { // only members may push
		t.Fatal(err)
	}
	store, err := chunk.Open(chunk.DefaultOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	root, sm, err := store.Ingest(ctx, bytes.NewReader(data), "test/"+f.ID, chunkSize, int64(len(data))+1)
	if err != nil {
		t.Fatal(err)
	}
	svc := push.New(h.Libp2p(), store, push.Options{})
	defer svc.Close()
	pushTo := func(i int) (string, error) {
		nd := nw.Nodes[i].Node
		id, err := peer.Decode(nd.PeerID())
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Libp2p().Connect(ctx, peer.AddrInfo{ID: id, Addrs: nd.Libp2p().Addrs()}); err != nil {
			t.Fatal(err)
		}
		pub, err := p2p.PublicKeyOf(id)
		if err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		rc, err := svc.Push(pctx, id, pub, f.ID, root, sm, store.Get)
		return rc.Holder, err
	}
	if _, err := pushTo(small); !errors.Is(err, push.ErrRefused) || !strings.Contains(err.Error(), "no room") {
		t.Fatalf("push to the small node: %v, want %v for room", err, push.ErrRefused)
	}
	empty("after a refused push")
	// The same push to a node with room that does not hold the file is
	// refused too, for another reason: the test's host is neither the
	// file's issuer nor one of its holders.
	roomy := -1
	holders := indexes(t, nw, f.Replicas)
	for i := range nw.Nodes {
		if i != small && !holders[i] {
			roomy = i
		}
	}
	if _, err := pushTo(roomy); !errors.Is(err, push.ErrRefused) || !strings.Contains(err.Error(), "neither the issuer nor a holder") {
		t.Fatalf("push to node%d with room from a stranger: %v, want %v", roomy, err, push.ErrRefused)
	}
	if st := nw.Nodes[roomy].Node.Info(ctx).Stored; st != 0 {
		t.Fatalf("node%d stores %d bytes after a refused push", roomy, st)
	}
	if got, err := nw.Nodes[0].Node.File(ctx, f.ID); err != nil || !slices.Equal(got.Replicas, f.Replicas) {
		t.Fatalf("holders after the test's pushes: %+v, %v; want %v", got.Replicas, err, f.Replicas)
	}
}

// TestFullNodeNeverListedAsHolder asks for four holders in a network of
// four where one node has no room: the file gets the three others and
// stays storing, placement retrying, without ever listing the full node.
func TestFullNodeNeverListedAsHolder(t *testing.T) {
	const full = 3
	nw := startStorageNet(t, 4, 4, func(i int, cfg *node.Config) {
		if i == full {
			cfg.Capacity = 64 << 10
		}
	})
	ctx := t.Context()
	fullID := nw.Nodes[full].Node.PeerID()
	data := patterned(2, 1<<20+5000)
	c := storageClient(t, nw.Nodes[0])
	f := uploadPaid(t, c, data, 3600)
	waitFor(t, 30*time.Second, "three holders", func() (bool, string) {
		got, err := c.File(ctx, f.ID)
		if err != nil {
			return false, err.Error()
		}
		if slices.Contains(got.Replicas, fullID) {
			t.Fatalf("the full node is listed as a holder: %v", got.Replicas)
		}
		return len(got.Replicas) == 3, fmt.Sprintf("state %s, replicas %v", got.State, got.Replicas)
	})
	// Placement retries every 100 ms: watch 15 rounds.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		got, err := c.File(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != api.StateStoring || len(got.Replicas) != 3 || slices.Contains(got.Replicas, fullID) {
			t.Fatalf("state %s, replicas %v; want storing with the three nodes with room", got.State, got.Replicas)
		}
	}
	for i := range indexes(t, nw, f.Replicas) {
		if !nw.Nodes[i].Node.Holds(ctx, f.ID) {
			t.Fatalf("holder node%d lacks chunks", i)
		}
	}
	if nw.Nodes[full].Node.Holds(ctx, f.ID) || nw.Nodes[full].Node.Info(ctx).Stored != 0 {
		t.Fatalf("the full node stores %d bytes", nw.Nodes[full].Node.Info(ctx).Stored)
	}
	// The bytes are readable at the full node, from the holders.
	body, _, err := storageClient(t, nw.Nodes[full]).Download(ctx, f.ID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download at the full node: %d bytes, %v; differs", len(got), err)
	}
}

// byteRange is one Range request and the bytes [off, end) it selects.
type byteRange struct {
	header   string
	off, end int64
}

// TestRangesFromNodeHoldingNothing reads ranges of a file of five 1 MiB
// chunks and a tail at a node that holds none of it: every answer is 206
// with the right Content-Range and exactly the bytes asked for.
func TestRangesFromNodeHoldingNothing(t *testing.T) {
	nw := startStorageNet(t, 5, 3, nil)
	ctx := t.Context()
	const mib = 1 << 20
	data := patterned(3, 5*mib+777)
	size := int64(len(data))
	f := storePaid(t, nw, data, 3600, 3)
	holders := indexes(t, nw, f.Replicas)
	reader := -1
	for i := range nw.Nodes {
		if !holders[i] {
			reader = i
			break
		}
	}
	rn := nw.Nodes[reader]
	if rn.Node.Holds(ctx, f.ID) || rn.Node.Info(ctx).Stored != 0 {
		t.Fatalf("node%d is not a holder but stores %d bytes", reader, rn.Node.Info(ctx).Stored)
	}
	url := rn.URL + "/files/" + f.ID
	ranges := []byteRange{
		{"bytes=1048676-1049675", mib + 100, mib + 1100},                        // inside chunk 1
		{fmt.Sprintf("bytes=%d-%d", 2*mib-10, 2*mib+9), 2*mib - 10, 2*mib + 10}, // across a boundary
		{fmt.Sprintf("bytes=%d-%d", mib/2, 4*mib-1), mib / 2, 4 * mib},          // across four chunks
		{fmt.Sprintf("bytes=%d-%d", 3*mib, 3*mib), 3 * mib, 3*mib + 1},          // the first byte of a chunk
		{fmt.Sprintf("bytes=%d-%d", 3*mib-1, 3*mib-1), 3*mib - 1, 3 * mib},      // the last byte of a chunk
		{"bytes=-500", size - 500, size},                                        // the last bytes (in the tail)
		{"bytes=-2000", size - 2000, size},                                      // the last bytes, across into chunk 4
		{fmt.Sprintf("bytes=%d-", 4*mib+3), 4*mib + 3, size},                    // to the end
		{fmt.Sprintf("bytes=%d-%d", size-1, size+100), size - 1, size},          // the last byte, end clipped
		{"bytes=0-0", 0, 1},
	}
	check := func(method string, r byteRange) {
		t.Helper()
		status, h, body := rawGet(t, method, url, r.header)
		if status != http.StatusPartialContent {
			t.Fatalf("%s %s: status %d, want 206 (%s)", method, r.header, status, body)
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", r.off, r.end-1, size); h.Get("Content-Range") != want {
			t.Fatalf("%s %s: Content-Range %q, want %q", method, r.header, h.Get("Content-Range"), want)
		}
		if want := strconv.FormatInt(r.end-r.off, 10); h.Get("Content-Length") != want {
			t.Fatalf("%s %s: Content-Length %q, want %s", method, r.header, h.Get("Content-Length"), want)
		}
		if method == http.MethodHead {
			if len(body) != 0 {
				t.Fatalf("HEAD %s: %d bytes of body", r.header, len(body))
			}
			return
		}
		if !bytes.Equal(body, data[r.off:r.end]) {
			t.Fatalf("GET %s: %d bytes that differ from [%d, %d)", r.header, len(body), r.off, r.end)
		}
	}
	for _, r := range ranges {
		check(http.MethodGet, r)
		check(http.MethodHead, r)
	}
	// The client's ranges, and the whole file.
	c := storageClient(t, rn)
	for _, r := range [][2]int64{{mib + 5, 10}, {5*mib - 3, 780}, {0, -1}, {size - 1, -1}} {
		body, _, err := c.Download(ctx, f.ID, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		end := size
		if r[1] >= 0 {
			end = r[0] + r[1]
		}
		if err != nil || !bytes.Equal(got, data[r[0]:end]) {
			t.Fatalf("client range %d+%d: %d bytes, %v; differs", r[0], r[1], len(got), err)
		}
	}
	// Outside the file: 416 with the size.
	status, h, _ := rawGet(t, http.MethodGet, url, fmt.Sprintf("bytes=%d-", size))
	if status != http.StatusRequestedRangeNotSatisfiable || h.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
		t.Fatalf("range past the end: %d, Content-Range %q", status, h.Get("Content-Range"))
	}
	// A HEAD without a range announces the whole file.
	status, h, _ = rawGet(t, http.MethodHead, url, "")
	if status != http.StatusOK || h.Get("Content-Length") != strconv.FormatInt(size, 10) || h.Get("ETag") != `"`+f.CID+`"` {
		t.Fatalf("HEAD: %d, Content-Length %q, ETag %q", status, h.Get("Content-Length"), h.Get("ETag"))
	}
	if st := rn.Node.Info(ctx).Stored; st != 0 {
		t.Fatalf("the reading node kept %d bytes", st)
	}
}

// TestLocalPaymentsSumToPrice freezes a shared clock while a file is paid
// and placed, so every holder holds it from the payment to the end of the
// term: the holders' /payments/local over the term add up to the price
// (each rounds down once), the others report nothing, and the figures stay
// the same once the term is over.
func TestLocalPaymentsSumToPrice(t *testing.T) {
	clock := newTestClock(time.Now())
	nw := startStorageNet(t, 5, 3, func(_ int, cfg *node.Config) { cfg.Clock = clock })
	ctx := t.Context()
	const term = 10 * 86400
	data := patterned(4, 2<<20+12345)
	f := storePaid(t, nw, data, term, 3)
	price := int64(f.Price)
	if price < 1000 {
		t.Fatalf("price %d nanotokens", price)
	}
	// The holders as the ledger has them now (a repair would have changed
	// them, and left the sums alone).
	now, err := nw.Nodes[0].Node.File(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	holders := indexes(t, nw, now.Replicas)
	from, to := f.StoredAt.UTC().Format("20060102"), f.ExpiresAt.UTC().Format("20060102")
	report := func() []api.LocalPayment {
		out := make([]api.LocalPayment, len(nw.Nodes))
		for i, nd := range nw.Nodes {
			lp, err := storageClient(t, nd).LocalPayments(ctx, from, to)
			if err != nil {
				t.Fatalf("node%d: %v", i, err)
			}
			out[i] = lp
		}
		return out
	}
	first := report()
	var sum int64
	for i, lp := range first {
		switch {
		case holders[i]:
			share := price / int64(len(holders))
			if got := int64(lp.Amount); got < share-1 || got > share+1 {
				t.Fatalf("holder node%d is due %d, want about a third of %d", i, got, price)
			}
			if lp.Size != int64(len(data)) {
				t.Fatalf("holder node%d held %d bytes, want %d", i, lp.Size, len(data))
			}
			sum += int64(lp.Amount)
		case lp.Amount != 0 || lp.Size != 0:
			t.Fatalf("node%d holds nothing but is due %d for %d bytes", i, lp.Amount, lp.Size)
		}
	}
	if sum > price || sum < price-int64(len(holders)) {
		t.Fatalf("holders are due %d in all, price %d", sum, price)
	}
	t.Logf("price %d nanotokens, holders due %d", price, sum)
	// The node's own figure is the same.
	for i, nd := range nw.Nodes {
		day := func(s string) time.Time { d, _ := time.Parse("20060102", s); return d }
		r, err := nd.Node.LocalPayments(ctx, day(from), day(to))
		if err != nil || r.Amount != int64(first[i].Amount) || r.Size != first[i].Size {
			t.Fatalf("node%d: LocalPayments %+v, %v; over HTTP %+v", i, r, err, first[i])
		}
	}
	// After the term, once expired, the figures stand.
	clock.Advance(term*time.Second + time.Minute)
	for i, nd := range nw.Nodes {
		waitFor(t, 20*time.Second, fmt.Sprintf("node%d marks the lease expired", i), func() (bool, string) {
			got, err := nd.Node.File(ctx, f.ID)
			return err == nil && got.State == api.StateExpired, fmt.Sprintf("state %q, %v", got.State, err)
		})
	}
	if again := report(); !slices.Equal(again, first) {
		t.Fatalf("after expiry the reports are %+v, before %+v", again, first)
	}
}

// liar serves the fetch protocol with wrong bytes of the right length for
// every block, and counts the blocks it was asked for.
type liar struct {
	blocks map[cid.Cid][]byte
	asked  atomic.Int64
}

func (l *liar) handle(st network.Stream) {
	defer st.Close()
	r := bufio.NewReader(st)
	for {
		req, err := wire.ReadFrame(r, 256)
		if err != nil {
			return
		}
		c, err := cid.Cast(req)
		wire.ReleaseFrame(req)
		if err != nil {
			_ = st.Reset()
			return
		}
		l.asked.Add(1)
		wrong := bytes.Clone(l.blocks[c])
		if len(wrong) == 0 {
			wrong = []byte("no such block, but here are some bytes")
		}
		wrong[len(wrong)/2] ^= 0xff
		if err := wire.WriteFrame(st, append([]byte{0}, wrong...)); err != nil { // status OK
			_ = st.Reset()
			return
		}
	}
}

// TestLyingHolderIsSkipped replaces one holder's fetch handler by one that
// answers every block with wrong bytes: downloads at the nodes that hold
// nothing, whole and in ranges, stay byte-exact, and the readers count
// the liar's failures (dds_fetch_failures_total; only the liar fails here).
func TestLyingHolderIsSkipped(t *testing.T) {
	nw := startStorageNet(t, 5, 3, nil)
	ctx := t.Context()
	const mib = 1 << 20
	data := patterned(5, 5*mib+4321)
	f := storePaid(t, nw, data, 3600, 3)
	holders := indexes(t, nw, f.Replicas)
	// The first listed holder: readers ask it for the manifest first.
	liarIdx := -1
	for i, nd := range nw.Nodes {
		if nd.Node.PeerID() == f.Replicas[0] {
			liarIdx = i
		}
	}
	m := manifestOf(data, nw.Nodes[0].Node.Info(ctx).ChunkSize)
	if m.CID().String() != f.CID {
		t.Fatalf("the node's cid %s differs from the test's %s", f.CID, m.CID())
	}
	l := &liar{blocks: map[cid.Cid][]byte{m.CID(): m.Encode()}}
	for i, ref := range m.Chunks {
		l.blocks[ref.CID] = data[int64(i)*m.ChunkSize : int64(i)*m.ChunkSize+ref.Size]
	}
	nw.Nodes[liarIdx].Node.Libp2p().SetStreamHandler(fetch.ID, l.handle)
	liarID := nw.Nodes[liarIdx].Node.PeerID()

	var readers []int
	for i := range nw.Nodes {
		if !holders[i] {
			readers = append(readers, i)
		}
	}
	size := int64(len(data))
	for round := range 3 {
		for _, i := range readers {
			c := storageClient(t, nw.Nodes[i])
			for _, r := range [][2]int64{{0, -1}, {mib - 7, 3*mib + 14}, {int64(round) * mib, mib}, {size - 4321, -1}, {size - 100, 100}} {
				body, _, err := c.Download(ctx, f.ID, r[0], r[1])
				if err != nil {
					t.Fatalf("round %d, node%d, range %d+%d: %v", round, i, r[0], r[1], err)
				}
				got, err := io.ReadAll(body)
				body.Close()
				end := size
				if r[1] >= 0 {
					end = r[0] + r[1]
				}
				if err != nil || !bytes.Equal(got, data[r[0]:end]) {
					t.Fatalf("round %d, node%d, range %d+%d: %d bytes, %v; differs", round, i, r[0], r[1], len(got), err)
				}
			}
		}
	}
	if l.asked.Load() == 0 {
		t.Fatal("no reader asked the lying holder for anything: the test proves nothing")
	}
	for _, i := range readers {
		if n := counter(t, nw.Nodes[i], "dds_fetch_failures_total"); n == 0 {
			t.Fatalf("node%d counted no failed fetch from the liar", i)
		}
		if st := nw.Nodes[i].Node.Info(ctx).Stored; st != 0 {
			t.Fatalf("reader node%d stores %d bytes", i, st)
		}
	}
	t.Logf("the liar %s was asked for %d blocks; failed fetches at the readers: %v, %v", liarID,
		l.asked.Load(), counter(t, nw.Nodes[readers[0]], "dds_fetch_failures_total"), counter(t, nw.Nodes[readers[1]], "dds_fetch_failures_total"))
}
