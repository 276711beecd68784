package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/internal/p2ptest"
	"github.com/ddsnet/dds/p2p"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type node struct {
	h     *p2p.Host
	dir   string
	store *chunk.Store
	svc   *Service

	mu  sync.Mutex
	bad []cid.Cid // what OnCorrupt reported
}

func (n *node) corrupted() []cid.Cid {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]cid.Cid(nil), n.bad...)
}

func newHost(tb testing.TB) *p2p.Host {
	return p2ptest.NewHost(tb)
}

// newNode starts a host with a chunk store and an audit service; serve,
// when not nil, replaces the store as what the node answers from and
// checks against.
func newNode(tb testing.TB, serve func(*chunk.Store) Store, o Options) *node {
	tb.Helper()
	n := &node{h: newHost(tb), dir: tb.TempDir()}
	var err error
	n.store, err = chunk.Open(chunk.DefaultOptions(n.dir))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = n.store.Close() })
	var st Store = n.store
	if serve != nil {
		st = serve(n.store)
	}
	o.OnCorrupt = func(c cid.Cid) {
		n.mu.Lock()
		n.bad = append(n.bad, c)
		n.mu.Unlock()
	}
	n.svc = New(n.h.Libp2p(), st, o)
	tb.Cleanup(func() { _ = n.svc.Close() })
	return n
}

func connect(tb testing.TB, a *p2p.Host, b *p2p.Host) peer.ID {
	tb.Helper()
	if err := a.Libp2p().Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Libp2p().Addrs()}); err != nil {
		tb.Fatal(err)
	}
	return b.ID()
}

// ingest stores the same random file in every node's store.
func ingest(tb testing.TB, size, chunkSize int64, nodes ...*node) *chunk.Manifest {
	tb.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	var m *chunk.Manifest
	for _, n := range nodes {
		var err error
		_, m, err = n.store.Ingest(context.Background(), bytes.NewReader(data), "upload/x", chunkSize, size+1)
		if err != nil {
			tb.Fatal(err)
		}
	}
	return m
}

// flip flips a byte of c's file in n's store (blocks/<shard>/<key>).
func flip(t *testing.T, n *node, c cid.Cid) {
	t.Helper()
	key := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(c.Bytes())
	var path string
	err := filepath.WalkDir(filepath.Join(n.dir, "blocks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == key {
			path = p
		}
		return err
	})
	if err != nil || path == "" {
		t.Fatalf("no file for %s under %s: %v", c, n.dir, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// liar answers every chunk with one bit flipped.
type liar struct{ *chunk.Store }

func (l liar) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	b, err := l.Store.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	b = bytes.Clone(b)
	b[len(b)/2] ^= 0x10
	return b, nil
}

// gated blocks every Get until release is closed or ctx ends, after
// signalling entered.
type gated struct {
	*chunk.Store
	entered chan struct{}
	release chan struct{}
}

func newGated(s *chunk.Store) *gated {
	return &gated{Store: s, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gated) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
		return g.Store.Get(ctx, c)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestProof(t *testing.T) {
	nonce := bytes.Repeat([]byte{7}, NonceSize)
	data := []byte("some chunk bytes")
	holder, other := peer.ID("holder-id"), peer.ID("other-id")
	want := sha256.Sum256(slices.Concat([]byte("dds-audit-v2"), nonce, []byte{byte(len(holder))}, []byte(holder), data))
	if Proof(nonce, holder, data) != want {
		t.Fatal("proof is not sha256(domain || nonce || len(holder) || holder || data)")
	}
	if Proof(nonce[:31], holder, data) == want || Proof(nonce, holder, data[1:]) == want || Proof(nonce, other, data) == want {
		t.Fatal("proof ignores its input")
	}
}

func TestChallengeHolders(t *testing.T) {
	auditor := newNode(t, nil, Options{})
	honest := newNode(t, nil, Options{})
	lacking := newNode(t, nil, Options{})
	lying := newNode(t, func(s *chunk.Store) Store { return liar{s} }, Options{})
	rotten := newNode(t, nil, Options{})
	for _, n := range []*node{honest, lacking, lying, rotten} {
		connect(t, auditor.h, n.h)
	}
	const cs = 64 << 10
	m := ingest(t, 3*cs+100, cs, auditor, honest, lying, rotten) // the tail chunk is kept inline
	ingest(t, 5000, cs, lacking)                                 // another file
	flip(t, rotten, m.Chunks[1].CID)

	for i, ref := range m.Chunks {
		if err := auditor.svc.Challenge(t.Context(), honest.h.ID(), ref.CID); err != nil {
			t.Fatalf("honest holder, chunk %d: %v", i, err)
		}
	}
	c := m.Chunks[1].CID
	for _, tc := range []struct {
		name string
		n    *node
		want error
	}{
		{"lacking", lacking, ErrMissing},
		{"lying", lying, ErrWrongProof},
		{"rotten", rotten, ErrCorrupt},
	} {
		err := auditor.svc.Challenge(t.Context(), tc.n.h.ID(), c)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s holder: %v, want %v", tc.name, err, tc.want)
		}
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.n.h.ID().String())) ||
			!bytes.Contains([]byte(err.Error()), []byte(c.String())) {
			t.Fatalf("%s holder: %q lacks the peer or the cid", tc.name, err)
		}
	}
	if got := rotten.corrupted(); len(got) != 1 || got[0] != c {
		t.Fatalf("rotten holder's OnCorrupt got %v, want [%s]", got, c)
	}
	// The rotten holder's other chunks still pass.
	if err := auditor.svc.Challenge(t.Context(), rotten.h.ID(), m.Chunks[0].CID); err != nil {
		t.Fatalf("rotten holder, good chunk: %v", err)
	}
	// Once repaired (a Put of the right bytes), the chunk passes again.
	good, err := honest.store.Get(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := rotten.store.Put(t.Context(), c, good); err != nil {
		t.Fatal(err)
	}
	if err := auditor.svc.Challenge(t.Context(), rotten.h.ID(), c); err != nil {
		t.Fatalf("repaired holder: %v", err)
	}
	if len(auditor.corrupted()) != 0 || len(honest.corrupted()) != 0 {
		t.Fatal("OnCorrupt called on a node with good copies")
	}
}

func TestChallengerOwnCopy(t *testing.T) {
	auditor := newNode(t, nil, Options{})
	holder := newNode(t, nil, Options{})
	connect(t, auditor.h, holder.h)
	const cs = 64 << 10
	m := ingest(t, 2*cs, cs, auditor, holder)
	c := m.Chunks[0].CID
	flip(t, auditor, c)

	err := auditor.svc.Challenge(t.Context(), holder.h.ID(), c)
	if !errors.Is(err, chunk.ErrHashMismatch) || errors.Is(err, ErrWrongProof) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("own copy corrupt: %v, want chunk.ErrHashMismatch only", err)
	}
	if got := auditor.corrupted(); len(got) != 1 || got[0] != c {
		t.Fatalf("OnCorrupt got %v, want [%s]", got, c)
	}
	if len(holder.corrupted()) != 0 {
		t.Fatal("holder blamed")
	}

	absent := chunk.Sum([]byte("a chunk nobody has"))
	err = auditor.svc.Challenge(t.Context(), holder.h.ID(), absent)
	if !errors.Is(err, chunk.ErrNotFound) || errors.Is(err, ErrMissing) {
		t.Fatalf("own copy absent: %v, want chunk.ErrNotFound", err)
	}
	if err := auditor.svc.Challenge(t.Context(), holder.h.ID(), m.Chunks[1].CID); err != nil {
		t.Fatalf("good chunk: %v", err)
	}
}

// TestChallengeWithBytes: a node that holds none of the file challenges
// with bytes it got elsewhere; proofs are checked the same way.
func TestChallengeWithBytes(t *testing.T) {
	outsider := newNode(t, nil, Options{})
	honest := newNode(t, nil, Options{})
	lying := newNode(t, func(s *chunk.Store) Store { return liar{s} }, Options{})
	lacking := newNode(t, nil, Options{})
	for _, n := range []*node{honest, lying, lacking} {
		connect(t, outsider.h, n.h)
	}
	const cs = 64 << 10
	m := ingest(t, 2*cs+7, cs, honest, lying)
	for i, ref := range m.Chunks {
		data, err := honest.store.Get(t.Context(), ref.CID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := outsider.store.Get(t.Context(), ref.CID); !errors.Is(err, chunk.ErrNotFound) {
			t.Fatalf("the outsider has chunk %d: %v", i, err)
		}
		if err := outsider.svc.ChallengeWith(t.Context(), honest.h.ID(), ref.CID, data); err != nil {
			t.Fatalf("honest holder, chunk %d: %v", i, err)
		}
		if err := outsider.svc.ChallengeWith(t.Context(), lying.h.ID(), ref.CID, data); !errors.Is(err, ErrWrongProof) {
			t.Fatalf("lying holder, chunk %d: %v, want ErrWrongProof", i, err)
		}
		if err := outsider.svc.ChallengeWith(t.Context(), lacking.h.ID(), ref.CID, data); !errors.Is(err, ErrMissing) {
			t.Fatalf("lacking holder, chunk %d: %v, want ErrMissing", i, err)
		}
		// Bytes other than the chunk's make an honest holder's proof wrong:
		// the proof covers the very bytes.
		bad := append([]byte(nil), data...)
		bad[0] ^= 1
		if err := outsider.svc.ChallengeWith(t.Context(), honest.h.ID(), ref.CID, bad); !errors.Is(err, ErrWrongProof) {
			t.Fatalf("wrong expected bytes, chunk %d: %v, want ErrWrongProof", i, err)
		}
	}
}

// serveRaw installs fn as the audit handler of a bare host (no Service)
// and returns the host; fn's goroutines end by the test's cleanup.
func serveRaw(t *testing.T, fn func(st network.Stream, done <-chan struct{})) *p2p.Host {
	t.Helper()
	return serveRawOn(t, newHost(t), fn)
}

// serveRawOn is serveRaw on a host of the caller's.
func serveRawOn(t *testing.T, h *p2p.Host, fn func(st network.Stream, done <-chan struct{})) *p2p.Host {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); wg.Wait() })
	h.Libp2p().SetStreamHandler(Protocol, func(st network.Stream) {
		wg.Add(1)
		defer wg.Done()
		fn(st, done)
	})
	return h
}

func TestLyingPeers(t *testing.T) {
	auditor := newNode(t, nil, Options{Timeout: 300 * time.Millisecond})
	const cs = 32 << 10
	m := ingest(t, cs, cs, auditor)
	c := m.Chunks[0].CID
	data, err := auditor.store.Get(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}

	// A replaying liar kept a proof of the chunk for an old nonce.
	replayerHost := newHost(t)
	old := Proof(make([]byte, NonceSize), replayerHost.ID(), data)
	replayer := serveRawOn(t, replayerHost, func(st network.Stream, _ <-chan struct{}) {
		if _, _, err := readRequest(bufio.NewReader(st)); err != nil {
			_ = st.Reset()
			return
		}
		_, _ = st.Write(append([]byte{statusOK}, old[:]...))
		_ = st.Close()
	})
	connect(t, auditor.h, replayer)
	if err := auditor.svc.Challenge(t.Context(), replayer.ID(), c); !errors.Is(err, ErrWrongProof) {
		t.Fatalf("replayed proof: %v, want ErrWrongProof", err)
	}

	// A relayer holds nothing: it passes the nonce on to an honest holder
	// and returns that holder's proof, which is bound to the holder.
	honest := peer.ID("an-honest-holder")
	relayer := serveRaw(t, func(st network.Stream, _ <-chan struct{}) {
		nonce, _, err := readRequest(bufio.NewReader(st))
		if err != nil {
			_ = st.Reset()
			return
		}
		relayed := Proof(nonce[:], honest, data)
		_, _ = st.Write(append([]byte{statusOK}, relayed[:]...))
		_ = st.Close()
	})
	connect(t, auditor.h, relayer)
	if err := auditor.svc.Challenge(t.Context(), relayer.ID(), c); !errors.Is(err, ErrWrongProof) {
		t.Fatalf("relayed proof: %v, want ErrWrongProof", err)
	}

	// A peer that reads the challenge and never answers.
	silent := serveRaw(t, func(st network.Stream, done <-chan struct{}) {
		_, _ = io.Copy(io.Discard, st)
		<-done
		_ = st.Reset()
	})
	connect(t, auditor.h, silent)
	start := time.Now()
	err = auditor.svc.Challenge(t.Context(), silent.ID(), c)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent peer: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("silent peer: took %v with a 300ms timeout", d)
	}

	// Replies that break the protocol.
	for _, tc := range []struct {
		name  string
		reply []byte
		want  error
	}{
		{"nothing", nil, ErrProtocol},
		{"short proof", []byte{statusOK, 1, 2, 3}, ErrProtocol},
		{"unknown status", []byte{99}, ErrProtocol},
		{"busy", []byte{statusBusy}, ErrBusy},
		{"refused", []byte{statusBadRequest}, ErrRefused},
	} {
		bad := serveRaw(t, func(st network.Stream, _ <-chan struct{}) {
			_, _ = io.Copy(io.Discard, st)
			_, _ = st.Write(tc.reply)
			_ = st.Close()
		})
		connect(t, auditor.h, bad)
		if err := auditor.svc.Challenge(t.Context(), bad.ID(), c); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// rawRequest sends req on a stream of Protocol to p, closes its side and
// returns everything p answers.
func rawRequest(t *testing.T, from *p2p.Host, p peer.ID, req []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := from.Libp2p().NewStream(ctx, p, Protocol)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := st.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = st.CloseWrite()
	out, err := io.ReadAll(st)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return out
}

func frame(b []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

func TestMalformedRequests(t *testing.T) {
	holder := newNode(t, nil, Options{})
	client := newHost(t)
	p := connect(t, client, holder.h)
	m := ingest(t, 10000, 8192, holder)
	c := m.Chunks[0].CID
	nonce := bytes.Repeat([]byte{3}, NonceSize)
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

	// A well-formed request, by hand.
	data, _ := holder.store.Get(t.Context(), c)
	want := Proof(nonce, p, data)
	if got := rawRequest(t, client, p, cat(frame(nonce), frame(c.Bytes()))); !bytes.Equal(got, append([]byte{statusOK}, want[:]...)) {
		t.Fatalf("well-formed request: reply %x", got)
	}
	for _, tc := range []struct {
		name string
		req  []byte
	}{
		{"empty", nil},
		{"short nonce", cat(frame(nonce[:16]), frame(c.Bytes()))},
		{"empty nonce", cat(frame(nil), frame(c.Bytes()))},
		{"long nonce", binary.AppendUvarint(nil, NonceSize+1)},
		{"huge nonce", binary.AppendUvarint(nil, 1<<40)},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11)},
		{"nonce cut short", cat(binary.AppendUvarint(nil, NonceSize), nonce[:10])},
		{"no cid", frame(nonce)},
		{"garbage cid", cat(frame(nonce), frame([]byte("garbage, not a cid")))},
		{"empty cid", cat(frame(nonce), frame(nil))},
		{"huge cid", cat(frame(nonce), binary.AppendUvarint(nil, maxCID+1))},
	} {
		if got := rawRequest(t, client, p, tc.req); !bytes.Equal(got, []byte{statusBadRequest}) {
			t.Fatalf("%s: reply %x, want bad request", tc.name, got)
		}
	}
	// The holder still serves.
	auditor := newNode(t, nil, Options{})
	connect(t, auditor.h, holder.h)
	if err := auditor.store.Put(t.Context(), c, data); err != nil {
		t.Fatal(err)
	}
	if err := auditor.svc.Challenge(t.Context(), p, c); err != nil {
		t.Fatal(err)
	}
}

func TestBusy(t *testing.T) {
	var g *gated
	holder := newNode(t, func(s *chunk.Store) Store { g = newGated(s); return g }, Options{MaxConcurrent: 1})
	auditor := newNode(t, nil, Options{})
	p := connect(t, auditor.h, holder.h)
	m := ingest(t, 20000, 8192, holder, auditor)

	first := make(chan error, 1)
	go func() { first <- auditor.svc.Challenge(t.Context(), p, m.Chunks[0].CID) }()
	<-g.entered
	if err := auditor.svc.Challenge(t.Context(), p, m.Chunks[1].CID); !errors.Is(err, ErrBusy) {
		t.Fatalf("second challenge: %v, want ErrBusy", err)
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Fatalf("first challenge: %v", err)
	}
	if err := auditor.svc.Challenge(t.Context(), p, m.Chunks[1].CID); err != nil {
		t.Fatalf("after the first: %v", err)
	}
}

func TestCancelAndClose(t *testing.T) {
	var g *gated
	holder := newNode(t, func(s *chunk.Store) Store { g = newGated(s); return g }, Options{})
	auditor := newNode(t, nil, Options{})
	p := connect(t, auditor.h, holder.h)
	m := ingest(t, 8192, 8192, holder, auditor)
	c := m.Chunks[0].CID

	// The challenger gives up: its context's error.
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- auditor.svc.Challenge(ctx, p, c) }()
	<-g.entered
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled challenge: %v", err)
	}

	// The holder closes while serving a challenge: the challenge fails,
	// Close returns once the handler has.
	go func() { res <- auditor.svc.Challenge(t.Context(), p, c) }()
	<-g.entered
	if err := holder.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err == nil || errors.Is(err, ErrWrongProof) || errors.Is(err, ErrMissing) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("challenge of a closing holder: %v", err)
	}
	if err := auditor.svc.Challenge(t.Context(), p, c); err == nil {
		t.Fatal("challenge of a closed holder succeeded")
	}

	// The challenger closes while a challenge is in flight, then refuses.
	asked := make(chan struct{}, 1)
	silent := serveRaw(t, func(st network.Stream, done <-chan struct{}) {
		_, _ = io.Copy(io.Discard, st)
		asked <- struct{}{}
		<-done
		_ = st.Reset()
	})
	connect(t, auditor.h, silent)
	go func() { res <- auditor.svc.Challenge(t.Context(), silent.ID(), c) }()
	<-asked
	_ = auditor.svc.Close()
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Fatalf("challenge during close: %v, want ErrClosed", err)
	}
	if err := auditor.svc.Challenge(t.Context(), p, c); !errors.Is(err, ErrClosed) {
		t.Fatalf("challenge after close: %v, want ErrClosed", err)
	}
}

func FuzzReadRequest(f *testing.F) {
	c := chunk.Sum([]byte("x"))
	f.Add(appendRequest(nil, make([]byte, NonceSize), c))
	f.Add(appendRequest(nil, make([]byte, 5), c))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(frame(make([]byte, NonceSize)))
	f.Fuzz(func(t *testing.T, b []byte) {
		nonce, c, err := readRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		// What decodes re-encodes to a prefix of the input.
		if enc := appendRequest(nil, nonce[:], c); !bytes.HasPrefix(b, enc) {
			t.Fatalf("%x decodes to a request that encodes as %x", b, enc)
		}
	})
}

func FuzzReadReply(f *testing.F) {
	f.Add([]byte{statusOK})
	f.Add(append([]byte{statusOK}, make([]byte, 32)...))
	f.Add([]byte{statusMissing})
	f.Fuzz(func(t *testing.T, b []byte) {
		status, proof, err := readReply(bytes.NewReader(b))
		if err != nil {
			return
		}
		if status == statusOK && !bytes.Equal(proof[:], b[1:33]) {
			t.Fatal("proof differs from the bytes")
		}
	})
}
