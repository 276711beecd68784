package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/internal/p2ptest"
	"github.com/ddsnet/dds/p2p"
	"github.com/ddsnet/dds/p2p/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// node is a host with its chunk store and push service.
type node struct {
	h     *p2p.Host
	store *chunk.Store
	svc   *Service
}

func newNode(tb testing.TB, accept func(context.Context, peer.ID, Offer) error) *node {
	tb.Helper()
	return newNodeWith(tb, Options{Accept: accept})
}

// newNodeWith starts a node whose service has o's Accept and Confirm.
func newNodeWith(tb testing.TB, o Options) *node {
	tb.Helper()
	h := p2ptest.NewHost(tb)
	store, err := chunk.Open(chunk.DefaultOptions(tb.TempDir()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	svc := New(h.Libp2p(), store, Options{
		Accept:    o.Accept,
		Confirm:   o.Confirm,
		ChunkSize: o.ChunkSize,
		Owner:     func(id string) string { return "lease/" + id },
		Sign:      h.Sign,
		Self:      h.ID().String(),
	})
	tb.Cleanup(func() { _ = svc.Close() })
	return &node{h: h, store: store, svc: svc}
}

func connect(tb testing.TB, a, b *node) {
	tb.Helper()
	if err := a.h.Libp2p().Connect(context.Background(), peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Libp2p().Addrs()}); err != nil {
		tb.Fatal(err)
	}
}

// ingest stores a random file of size bytes in n's store.
func ingest(tb testing.TB, n *node, size, chunkSize int64) (cid.Cid, *chunk.Manifest) {
	tb.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	root, m, err := n.store.Ingest(context.Background(), bytes.NewReader(data), "upload/x", chunkSize, size+1)
	if err != nil {
		tb.Fatal(err)
	}
	return root, m
}

// counting wraps a store read, counting the bytes it returns.
func counting(s *chunk.Store, n *atomic.Int64) func(context.Context, cid.Cid) ([]byte, error) {
	return func(ctx context.Context, c cid.Cid) ([]byte, error) {
		b, err := s.Get(ctx, c)
		n.Add(int64(len(b)))
		return b, err
	}
}

func checkStored(t *testing.T, n *node, fileID string, root cid.Cid, m *chunk.Manifest) {
	t.Helper()
	ctx := t.Context()
	for _, ref := range m.Chunks {
		b, err := n.store.Get(ctx, ref.CID)
		if err != nil {
			t.Fatalf("holder lacks chunk: %v", err)
		}
		if int64(len(b)) != ref.Size {
			t.Fatalf("chunk of %d bytes, want %d", len(b), ref.Size)
		}
	}
	pins, err := n.store.Pins(ctx, "lease/")
	if err != nil {
		t.Fatal(err)
	}
	if pins["lease/"+fileID] != root {
		t.Fatalf("pins %v, want lease/%s -> %s", pins, fileID, root)
	}
}

func TestPush(t *testing.T) {
	a, b := newNode(t, nil), newNode(t, nil)
	connect(t, a, b)
	root, m := ingest(t, a, 10<<20+123, 256<<10)
	key := b.h.PublicKey()

	var sent atomic.Int64
	rc, err := a.svc.Push(t.Context(), b.h.ID(), key, "f1", root, m, counting(a.store, &sent))
	if err != nil {
		t.Fatal(err)
	}
	if rc.FileID != "f1" || rc.CID != root.String() || rc.Size != m.Size || rc.Holder != b.h.ID().String() {
		t.Fatalf("receipt %+v", rc)
	}
	if !p2p.Verify(key, rc.Canonical(), rc.Signature) {
		t.Fatal("receipt signature does not verify")
	}
	if sent.Load() != m.Size || a.svc.Sent() != m.Size || b.svc.Received() != m.Size {
		t.Fatalf("sent %d (service %d, received %d), want %d", sent.Load(), a.svc.Sent(), b.svc.Received(), m.Size)
	}
	checkStored(t, b, "f1", root, m)

	// Again: nothing is sent, a receipt still comes back.
	sent.Store(0)
	rc2, err := a.svc.Push(t.Context(), b.h.ID(), key, "f1", root, m, counting(a.store, &sent))
	if err != nil {
		t.Fatal(err)
	}
	if sent.Load() != 0 {
		t.Fatalf("second push sent %d bytes", sent.Load())
	}
	if !p2p.Verify(key, rc2.Canonical(), rc2.Signature) {
		t.Fatal("second receipt does not verify")
	}

	// A wrong holder key fails the receipt check.
	other := newNode(t, nil)
	if _, err := a.svc.Push(t.Context(), b.h.ID(), other.h.PublicKey(), "f1", root, m, counting(a.store, &sent)); !errors.Is(err, ErrBadReceipt) {
		t.Fatalf("push with wrong key: %v, want ErrBadReceipt", err)
	}
}

func TestPushResume(t *testing.T) {
	a, b := newNode(t, nil), newNode(t, nil)
	connect(t, a, b)
	root, m := ingest(t, a, 8<<20, 256<<10)
	key := b.h.PublicKey()

	// Cancel after half the chunks were read for sending.
	ctx, cancel := context.WithCancel(t.Context())
	var sent atomic.Int64
	half := m.Size / 2
	read := func(rctx context.Context, c cid.Cid) ([]byte, error) {
		if sent.Load() >= half {
			cancel()
			<-rctx.Done()
			return nil, rctx.Err()
		}
		b, err := a.store.Get(rctx, c)
		sent.Add(int64(len(b)))
		return b, err
	}
	if _, err := a.svc.Push(ctx, b.h.ID(), key, "f", root, m, read); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted push: %v, want context.Canceled", err)
	}
	// Wait for the holder's side of the push to end: a new service takes
	// over its protocol.
	_ = b.svc.Close()
	b.svc = New(b.h.Libp2p(), b.store, Options{
		Owner: func(id string) string { return "lease/" + id },
		Sign:  b.h.Sign,
		Self:  b.h.ID().String(),
	})
	t.Cleanup(func() { _ = b.svc.Close() })
	// What the holder stored survives; the resumed push sends the rest only.
	var stored int64
	for _, ref := range m.Chunks {
		if ok, _ := b.store.Has(t.Context(), ref.CID); ok {
			stored += ref.Size
		}
	}
	if stored == 0 || stored >= m.Size {
		t.Fatalf("holder stored %d of %d bytes after the interruption", stored, m.Size)
	}
	var rest atomic.Int64
	if _, err := a.svc.Push(t.Context(), b.h.ID(), key, "f", root, m, counting(a.store, &rest)); err != nil {
		t.Fatal(err)
	}
	if rest.Load() != m.Size-stored {
		t.Fatalf("resumed push sent %d bytes, want %d", rest.Load(), m.Size-stored)
	}
	checkStored(t, b, "f", root, m)
}

func TestPushRefused(t *testing.T) {
	full := errors.New("no room")
	a := newNode(t, nil)
	b := newNode(t, func(ctx context.Context, from peer.ID, o Offer) error {
		if o.FileID == "big" {
			return full
		}
		return nil
	})
	connect(t, a, b)
	root, m := ingest(t, a, 1<<20, 256<<10)
	var sent atomic.Int64
	_, err := a.svc.Push(t.Context(), b.h.ID(), b.h.PublicKey(), "big", root, m, counting(a.store, &sent))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("push: %v, want ErrRefused", err)
	}
	if sent.Load() != 0 {
		t.Fatalf("refused push sent %d bytes", sent.Load())
	}
	if u := b.store.Usage(); u.Chunks != 0 {
		t.Fatalf("holder stored %+v", u)
	}
}

func TestPushBadBytes(t *testing.T) {
	a, b := newNode(t, nil), newNode(t, nil)
	connect(t, a, b)
	root, m := ingest(t, a, 4<<20, 256<<10)
	bad := m.Chunks[5].CID
	read := func(ctx context.Context, c cid.Cid) ([]byte, error) {
		data, err := a.store.Get(ctx, c)
		if err == nil && c == bad {
			data = bytes.Clone(data)
			data[100] ^= 1
		}
		return data, err
	}
	_, err := a.svc.Push(t.Context(), b.h.ID(), b.h.PublicKey(), "f", root, m, read)
	var bce *BadChunkError
	if !errors.Is(err, ErrBadChunk) || !errors.As(err, &bce) || bce.Index != 5 {
		t.Fatalf("push: %v, want ErrBadChunk for chunk 5", err)
	}
	if ok, _ := b.store.Has(t.Context(), bad); ok {
		t.Fatal("holder stored the corrupt chunk")
	}
	pins, err := b.store.Pins(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 0 {
		t.Fatalf("holder pinned %v", pins)
	}
	// With the right bytes the push completes.
	var sent atomic.Int64
	if _, err := a.svc.Push(t.Context(), b.h.ID(), b.h.PublicKey(), "f", root, m, counting(a.store, &sent)); err != nil {
		t.Fatal(err)
	}
	checkStored(t, b, "f", root, m)
}

// Confirm runs while the chunks come in: a slow yes completes the push, a
// no, early or late, refuses it with nothing pinned, and stops the
// transfer when it comes early.
func TestPushConfirm(t *testing.T) {
	for _, tt := range []struct {
		name   string
		wait   time.Duration
		refuse bool
	}{
		{"slow yes", 300 * time.Millisecond, false},
		{"early no", 0, true},
		{"late no", 300 * time.Millisecond, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			no := errors.New("no paid lease")
			a := newNode(t, nil)
			b := newNodeWith(t, Options{Confirm: func(ctx context.Context, from peer.ID, o Offer) error {
				select {
				case <-time.After(tt.wait):
				case <-ctx.Done():
					return ctx.Err()
				}
				if tt.refuse {
					return no
				}
				return nil
			}})
			connect(t, a, b)
			root, m := ingest(t, a, 16<<20, 256<<10)
			var sent atomic.Int64
			_, err := a.svc.Push(t.Context(), b.h.ID(), b.h.PublicKey(), "f", root, m, counting(a.store, &sent))
			if !tt.refuse {
				if err != nil {
					t.Fatal(err)
				}
				checkStored(t, b, "f", root, m)
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), no.Error()) {
				t.Fatalf("push: %v, want ErrRefused: %v", err, no)
			}
			pins, err := b.store.Pins(t.Context(), "")
			if err != nil || len(pins) != 0 {
				t.Fatalf("holder pinned %v (%v)", pins, err)
			}
			if tt.wait == 0 && sent.Load() == m.Size {
				t.Fatalf("an early refusal let the whole file through (%d bytes)", sent.Load())
			}
		})
	}
}

// rawOffer opens a push stream from a to b, sends offer and then, when
// manifestLen > 0, only the length of a manifest that never follows; it
// returns b's answer.
func rawOffer(t *testing.T, a, b *node, offer Offer, manifestLen uint64) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := a.h.Libp2p().NewStream(ctx, b.h.ID(), ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteJSON(st, offer); err != nil {
		t.Fatal(err)
	}
	if manifestLen > 0 {
		if _, err := st.Write(binary.AppendUvarint(nil, manifestLen)); err != nil {
			t.Fatal(err)
		}
	}
	var a2 answer
	if err := wire.ReadJSON(st, maxAnswer, &a2); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return a2
}

// TestPushOfferBoundsTheManifest: a holder judges an offer before it reads
// the manifest (a refused pusher's manifest is never read), and reads no
// more of a manifest than a file of the offer's size in the network's
// chunks takes: a 60 MiB manifest announced for a 1 KiB file is refused
// before a byte of it is read or allocated.
func TestPushOfferBoundsTheManifest(t *testing.T) {
	a := newNode(t, nil)
	b := newNodeWith(t, Options{
		Accept: func(_ context.Context, _ peer.ID, o Offer) error {
			if o.FileID == "not yours" {
				return errors.New("not a holder of this file")
			}
			return nil
		},
		ChunkSize: func() int64 { return 1 << 20 },
	})
	connect(t, a, b)
	root, m := ingest(t, a, 1<<10, 1<<20)
	offer := Offer{FileID: "not yours", Root: root.String(), Size: m.Size}
	if ans := rawOffer(t, a, b, offer, 0); !ans.Refused || !strings.Contains(ans.Error, "not a holder") {
		t.Fatalf("offer refused by Accept: %+v", ans)
	}
	offer.FileID = "f"
	if ans := rawOffer(t, a, b, offer, 60<<20); !ans.Refused || !strings.Contains(ans.Error, "too large") {
		t.Fatalf("oversized manifest: %+v", ans)
	}
	// A manifest in other chunks than the network's is refused too.
	root2, m2 := ingest(t, a, 1<<10, 256)
	if _, err := a.svc.Push(t.Context(), b.h.ID(), b.h.PublicKey(), "f2", root2, m2, a.store.Get); !errors.Is(err, ErrRefused) {
		t.Fatalf("push in 256-byte chunks: %v", err)
	}
	// The honest push of the same file in the network's chunks goes.
	if _, err := a.svc.Push(t.Context(), b.h.ID(), b.h.PublicKey(), "f", root, m, a.store.Get); err != nil {
		t.Fatal(err)
	}
	checkStored(t, b, "f", root, m)
}
