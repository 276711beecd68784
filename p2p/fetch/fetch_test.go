package fetch

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/internal/p2ptest"
	"github.com/ddsnet/dds/p2p"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type node struct {
	h     *p2p.Host
	store *chunk.Store
	svc   *Service
}

// newNode starts a host with a chunk store; serve, when not nil, replaces
// the store as what the node serves.
func newNode(tb testing.TB, serve func(*chunk.Store) Store, o Options) *node {
	tb.Helper()
	h := p2ptest.NewHost(tb)
	store, err := chunk.Open(chunk.DefaultOptions(tb.TempDir()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	st := FromChunks(store)
	if serve != nil {
		st = serve(store)
	}
	svc := New(h.Libp2p(), st, o)
	tb.Cleanup(func() { _ = svc.Close() })
	return &node{h: h, store: store, svc: svc}
}

func connect(tb testing.TB, a *node, others ...*node) []peer.ID {
	tb.Helper()
	var ids []peer.ID
	for _, b := range others {
		if err := a.h.Libp2p().Connect(context.Background(), peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Libp2p().Addrs()}); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, b.h.ID())
	}
	return ids
}

// ingest stores the same random file in every node's store.
func ingest(tb testing.TB, size, chunkSize int64, nodes ...*node) ([]byte, cid.Cid, *chunk.Manifest) {
	tb.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	var root cid.Cid
	var m *chunk.Manifest
	for _, n := range nodes {
		var err error
		root, m, err = n.store.Ingest(context.Background(), bytes.NewReader(data), "upload/x", chunkSize, size+1)
		if err != nil {
			tb.Fatal(err)
		}
	}
	return data, root, m
}

// corrupt serves every chunk with one bit flipped.
type corrupt struct{ *chunk.Store }

func (c corrupt) Read(ctx context.Context, id cid.Cid, _ []byte) ([]byte, error) {
	b, err := c.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	b = bytes.Clone(b)
	b[len(b)/2] ^= 0x10
	return b, nil
}

// sparse serves only the chunks with an even index in want.
type sparse struct {
	*chunk.Store
	drop map[cid.Cid]bool
}

func (s sparse) Read(ctx context.Context, id cid.Cid, dst []byte) ([]byte, error) {
	if s.drop[id] {
		return nil, chunk.ErrNotFound
	}
	return s.Store.GetInto(ctx, id, dst)
}

func readRange(t *testing.T, svc *Service, m *chunk.Manifest, holders []peer.ID, off, n int64) ([]byte, error) {
	t.Helper()
	r := svc.NewReader(t.Context(), m, holders, off, n)
	defer r.Close()
	return io.ReadAll(r)
}

func TestFetchRanges(t *testing.T) {
	client := newNode(t, nil, Options{Window: 4})
	a, b, c := newNode(t, nil, Options{}), newNode(t, nil, Options{}), newNode(t, nil, Options{})
	holders := connect(t, client, a, b, c)
	const cs = 64 << 10
	data, root, m := ingest(t, 20*cs+777, cs, a, b, c)

	got, err := client.svc.Manifest(t.Context(), root, holders)
	if err != nil {
		t.Fatal(err)
	}
	if got.CID() != root {
		t.Fatal("manifest differs")
	}
	one, err := client.svc.Get(t.Context(), holders[1], m.Chunks[3].CID)
	if err != nil || !bytes.Equal(one, data[3*cs:4*cs]) {
		t.Fatalf("get chunk: %v", err)
	}
	if _, err := client.svc.Get(t.Context(), holders[0], chunk.Sum([]byte("absent"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get absent: %v, want ErrNotFound", err)
	}

	size := int64(len(data))
	for _, tc := range []struct{ off, n int64 }{
		{0, -1}, {0, size}, {0, 1}, {cs - 1, 2}, {cs, cs}, {cs - 1, cs + 2},
		{5*cs + 10, 7 * cs}, {size - 1, 1}, {size - 777, -1}, {size - 778, 2}, {size, -1}, {3, 0},
	} {
		out, err := readRange(t, client.svc, m, holders, tc.off, tc.n)
		if err != nil {
			t.Fatalf("range %d+%d: %v", tc.off, tc.n, err)
		}
		end := size
		if tc.n >= 0 {
			end = tc.off + tc.n
		}
		if !bytes.Equal(out, data[tc.off:end]) {
			t.Fatalf("range %d+%d: %d bytes differ", tc.off, tc.n, len(out))
		}
	}
	if _, err := readRange(t, client.svc, m, holders, size+1, -1); !errors.Is(err, chunk.ErrRange) {
		t.Fatalf("range past the end: %v", err)
	}
	if f := client.svc.Failures(); len(f) != 0 {
		t.Fatalf("failures %v with healthy holders", f)
	}
}

func TestFetchBadHolders(t *testing.T) {
	client := newNode(t, nil, Options{Window: 6})
	const cs = 32 << 10
	good := newNode(t, nil, Options{})
	bad := newNode(t, func(s *chunk.Store) Store { return corrupt{s} }, Options{})
	drop := make(map[cid.Cid]bool)
	holey := newNode(t, func(s *chunk.Store) Store { return sparse{s, drop} }, Options{})
	holders := connect(t, client, bad, holey, good)
	data, _, m := ingest(t, 30*cs+5, cs, good, bad, holey)
	for i, ref := range m.Chunks {
		if i%2 == 0 {
			drop[ref.CID] = true
		}
	}
	out, err := readRange(t, client.svc, m, holders, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, data) {
		t.Fatal("wrong bytes")
	}
	out, err = readRange(t, client.svc, m, holders, 3*cs+7, 9*cs)
	if err != nil || !bytes.Equal(out, data[3*cs+7:12*cs+7]) {
		t.Fatalf("range: %v", err)
	}
	f := client.svc.Failures()
	if f[bad.h.ID()] == 0 || f[holey.h.ID()] == 0 || f[good.h.ID()] != 0 {
		t.Fatalf("failures %v", f)
	}
	if _, err := client.svc.Get(t.Context(), bad.h.ID(), m.Chunks[0].CID); !errors.Is(err, ErrBadChunk) {
		t.Fatalf("get from the corrupting peer: %v, want ErrBadChunk", err)
	}

	// All holders bad: an error, never a wrong byte.
	r := client.svc.NewReader(t.Context(), m, []peer.ID{bad.h.ID(), holey.h.ID()}, 0, -1)
	defer r.Close()
	got, err := io.ReadAll(r)
	if err == nil {
		t.Fatal("read from bad holders succeeded")
	}
	if !errors.Is(err, ErrBadChunk) {
		t.Fatalf("read: %v, want ErrBadChunk", err)
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("wrong bytes before the error")
	}
}

func TestFetchCancel(t *testing.T) {
	client := newNode(t, nil, Options{})
	a := newNode(t, nil, Options{})
	holders := connect(t, client, a)
	const cs = 64 << 10
	data, _, m := ingest(t, 40*cs, cs, a)

	ctx, cancel := context.WithCancel(t.Context())
	r := client.svc.NewReader(ctx, m, holders, 0, -1)
	buf := make([]byte, cs+10)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, data[:len(buf)]) {
		t.Fatal("wrong bytes")
	}
	cancel()
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
	_ = r.Close()

	// Closing a reader midway, and the service with a reader open, ends
	// every goroutine (goleak checks).
	r = client.svc.NewReader(t.Context(), m, holders, 0, -1)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	if _, err := r.Read(buf); err == nil {
		t.Fatal("read after close succeeded")
	}
	r = client.svc.NewReader(t.Context(), m, holders, 0, -1)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	_ = client.svc.Close()
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("read after service close succeeded")
	}
	_ = r.Close()
}

// stalled never answers: a holder gone without a word.
type stalled struct {
	*chunk.Store
	release chan struct{}
}

func (s stalled) Read(ctx context.Context, id cid.Cid, _ []byte) ([]byte, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return nil, context.Canceled
}

// A holder that never answers does not hold up the manifest: the next one
// is asked too, well before the request times out.
func TestManifestHedgesPastASilentHolder(t *testing.T) {
	client := newNode(t, nil, Options{Timeout: time.Minute})
	release := make(chan struct{})
	defer close(release)
	silent := newNode(t, func(s *chunk.Store) Store { return stalled{s, release} }, Options{})
	good := newNode(t, nil, Options{})
	holders := connect(t, client, silent, good)
	_, root, want := ingest(t, 100<<10, 32<<10, good, silent)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	m, err := client.svc.Manifest(ctx, root, holders)
	if err != nil {
		t.Fatal(err)
	}
	if m.CID() != want.CID() {
		t.Fatal("wrong manifest")
	}
}

// A holder that never answers does not hold up a read: each chunk asked
// of it is asked of the next holder too after chunkHedge, and the read
// ends long before the request timeout.
func TestReaderHedgesPastASilentHolder(t *testing.T) {
	client := newNode(t, nil, Options{Timeout: time.Minute, Window: 4})
	release := make(chan struct{})
	defer close(release)
	silent := newNode(t, func(s *chunk.Store) Store { return stalled{s, release} }, Options{})
	good := newNode(t, nil, Options{})
	holders := connect(t, client, silent, good)
	const cs = 32 << 10
	data, _, m := ingest(t, 12*cs+99, cs, good, silent)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r := client.svc.NewReader(ctx, m, holders, 0, -1)
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("wrong bytes")
	}
}
