package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func devConfig(t testing.TB, dir string, clock Clock) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.Dev = true
	cfg.NoBallast = true
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.P2PAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Clock = clock
	cfg.ExpiryInterval = time.Hour // tests sweep by hand
	cfg.GCInterval = time.Hour
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg
}

func startDev(t testing.TB, dir string, clock Clock) *Node {
	t.Helper()
	return startDevWith(t, dir, clock, nil)
}

// startDevWith starts a dev node whose config adjust changes first.
func startDevWith(t testing.TB, dir string, clock Clock, adjust func(*Config)) *Node {
	t.Helper()
	n, err := tryStartDev(t, dir, clock, adjust)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tryStartDev is startDevWith, returning Start's error.
func tryStartDev(t testing.TB, dir string, clock Clock, adjust func(*Config)) (*Node, error) {
	t.Helper()
	cfg := devConfig(t, dir, clock)
	if adjust != nil {
		adjust(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	t.Cleanup(func() { n.Close() })
	return n, nil
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readAll(t *testing.T, n *Node, id string, off, length int64) []byte {
	t.Helper()
	r, err := n.Read(t.Context(), id, off, length)
	if err != nil {
		t.Fatalf("read %s [%d,+%d): %v", id, off, length, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return b
}

func TestDevUploadPayDownload(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	n := startDev(t, t.TempDir(), clock)
	ctx := t.Context()
	data := randomBytes(1, 3<<20+12345)

	f, err := n.Upload(ctx, Upload{Name: "report.pdf", Duration: 86400, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if f.State != api.StateQuoted || f.Size != int64(len(data)) || f.Price <= 0 || f.CID == "" {
		t.Fatalf("quoted file = %+v", f)
	}
	if len(f.AttestedBy) != 1 || f.AttestedBy[0] != n.PeerID() {
		t.Fatalf("attested_by = %v, want the node itself", f.AttestedBy)
	}
	s, _ := n.settings()
	if want := billing.Price(s, f.Size, 86400, 1); f.Price != want {
		t.Fatalf("price = %d, want %d", f.Price, want)
	}
	if _, err := n.Content(ctx, f.ID); !errors.Is(err, ErrPaymentRequired) {
		t.Fatalf("content of unpaid file: %v, want ErrPaymentRequired", err)
	}
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price - 1}); !errors.Is(err, ErrAmountTooLow) {
		t.Fatalf("low payment: %v, want ErrAmountTooLow", err)
	}
	p, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price})
	if err != nil {
		t.Fatal(err)
	}
	if p.Amount != f.Price || p.FileID != f.ID || p.ID == "" {
		t.Fatalf("payment = %+v", p)
	}
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); !errors.Is(err, ErrAlreadyPaid) {
		t.Fatalf("second payment: %v, want ErrAlreadyPaid", err)
	}
	got, err := n.File(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != api.StateStored || len(got.Replicas) != 1 || got.Replicas[0] != n.PeerID() {
		t.Fatalf("after payment: state %s, replicas %v", got.State, got.Replicas)
	}
	if !got.ExpiresAt.Equal(got.StoredAt.Add(86400 * time.Second)) {
		t.Fatalf("expires_at %v != stored_at %v + term", got.ExpiresAt, got.StoredAt)
	}
	if b := readAll(t, n, f.ID, 0, -1); !bytes.Equal(b, data) {
		t.Fatalf("downloaded %d bytes, not the uploaded ones", len(b))
	}
	for _, r := range [][2]int64{{0, 1}, {1<<20 - 1, 2}, {1 << 20, 1 << 20}, {int64(len(data)) - 1, 1}, {12345, 2<<20 + 7}} {
		if b := readAll(t, n, f.ID, r[0], r[1]); !bytes.Equal(b, data[r[0]:r[0]+r[1]]) {
			t.Fatalf("range %v: wrong bytes", r)
		}
	}
	if pp, err := n.Payment(ctx, p.ID); err != nil || pp != p {
		t.Fatalf("payment lookup = %+v, %v", pp, err)
	}
}

func TestDevExtendAndExpire(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	n := startDev(t, t.TempDir(), clock)
	ctx := t.Context()
	data := randomBytes(2, 2<<20)
	f, err := n.Upload(ctx, Upload{Name: "a.bin", Duration: 3600, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); err != nil {
		t.Fatal(err)
	}
	shorter := int64(3600)
	if _, _, err := n.Patch(ctx, f.ID, Patch{Duration: &shorter}); !errors.Is(err, ErrConflict) {
		t.Fatalf("same term: %v, want ErrConflict", err)
	}
	longer := int64(7200)
	ext, quoted, err := n.Patch(ctx, f.ID, Patch{Duration: &longer})
	if err != nil || !quoted || ext.State != api.StateExtensionQuoted {
		t.Fatalf("extension = %+v, quoted %v, %v", ext, quoted, err)
	}
	if b := readAll(t, n, f.ID, 0, -1); !bytes.Equal(b, data) {
		t.Fatal("file not readable while an extension is quoted")
	}
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: ext.Price}); err != nil {
		t.Fatal(err)
	}
	got, _ := n.File(ctx, f.ID)
	if got.Duration != 7200 || got.State != api.StateStored {
		t.Fatalf("after extension: %+v", got)
	}

	held := n.store.Usage().Chunks
	clock.Advance(7200*time.Second + time.Second)
	n.sweep(ctx)
	n.reconcile(ctx) // unpins the lease, and wakes the GC loop: it may collect first
	if _, err := n.Content(ctx, f.ID); !errors.Is(err, ErrGone) {
		t.Fatalf("content after term: %v, want ErrGone", err)
	}
	if _, err := n.store.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if held != 2 || n.store.Usage().Chunks != 0 {
		t.Fatalf("the lease held %d chunks; after gc the store has %+v", held, n.store.Usage())
	}
}

func TestDevQuoteExpiresUnpaid(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	n := startDev(t, t.TempDir(), clock)
	ctx := t.Context()
	f, err := n.Upload(ctx, Upload{Name: "x", Body: bytes.NewReader(randomBytes(3, 1000))})
	if err != nil {
		t.Fatal(err)
	}
	if f.Duration != DefaultDuration {
		t.Fatalf("default duration = %d", f.Duration)
	}
	clock.Advance(f.QuoteExpiresAt.Sub(clock.Now()))
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); !errors.Is(err, ErrQuoteExpired) {
		t.Fatalf("pay expired quote: %v, want ErrQuoteExpired", err)
	}
	n.sweep(ctx)
	n.reconcile(ctx)
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); !errors.Is(err, ErrQuoteExpired) {
		t.Fatalf("pay swept quote: %v, want ErrQuoteExpired", err)
	}
	if _, err := n.store.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if u := n.store.Usage(); u.Chunks != 0 {
		t.Fatalf("staged data of an expired quote kept: %+v", u)
	}
}

func TestDevCancel(t *testing.T) {
	n := startDev(t, t.TempDir(), SystemClock)
	ctx := t.Context()
	f, err := n.Upload(ctx, Upload{Name: "x", Body: bytes.NewReader(randomBytes(4, 5000))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentError}); err != nil {
		t.Fatal(err)
	}
	got, _ := n.File(ctx, f.ID)
	if got.State != api.StateCancelled {
		t.Fatalf("state after error payment = %s", got.State)
	}
	if _, err := n.Content(ctx, f.ID); !errors.Is(err, ErrGone) {
		t.Fatalf("content of cancelled: %v", err)
	}
	if _, err := n.store.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if u := n.store.Usage(); u.Chunks != 0 {
		t.Fatalf("cancelled upload's data kept: %+v", u)
	}
}

func TestDevRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	data := randomBytes(5, 1<<20+1)
	n := startDev(t, dir, SystemClock)
	f, err := n.Upload(ctx, Upload{Name: "keep.bin", Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price})
	if err != nil {
		t.Fatal(err)
	}
	open, err := n.Upload(ctx, Upload{Name: "open.bin", Body: bytes.NewReader(data[:100])})
	if err != nil {
		t.Fatal(err)
	}
	rec := n.Records()
	if err := rec.Put(ctx, "k1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	peer, token := n.PeerID(), n.BillingToken()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := startDev(t, dir, SystemClock)
	if n2.PeerID() != peer || n2.BillingToken() != token {
		t.Fatal("identity or billing token changed across a restart")
	}
	if b := readAll(t, n2, f.ID, 0, -1); !bytes.Equal(b, data) {
		t.Fatal("file bytes changed across a restart")
	}
	if pp, err := n2.Payment(ctx, p.ID); err != nil || pp.Amount != p.Amount {
		t.Fatalf("payment after restart = %+v, %v", pp, err)
	}
	if _, err := n2.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); !errors.Is(err, ErrAlreadyPaid) {
		t.Fatalf("replayed payment after restart: %v", err)
	}
	if v, ok, err := n2.Records().Get(ctx, "k1"); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("record after restart = %q %v %v", v, ok, err)
	}
	// The open quote is still payable, and its staged data survived.
	if _, err := n2.Pay(ctx, PaymentRequest{FileID: open.ID, Status: api.PaymentSuccess, Amount: open.Price}); err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, n2, open.ID, 0, -1); !bytes.Equal(b, data[:100]) {
		t.Fatal("staged upload lost across a restart")
	}
}

func TestDevFilesPaging(t *testing.T) {
	n := startDev(t, t.TempDir(), SystemClock)
	ctx := t.Context()
	var ids []string
	for i := range 7 {
		f, err := n.Upload(ctx, Upload{Name: "f", Body: bytes.NewReader(randomBytes(uint64(10+i), 10))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
	}
	var seen []string
	after := ""
	for {
		page, next, err := n.Files(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page {
			seen = append(seen, f.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(seen) != len(ids) {
		t.Fatalf("paged %d files, want %d", len(seen), len(ids))
	}
	for i := range ids {
		if seen[i] != ids[i] {
			t.Fatalf("page order %v, want %v", seen, ids)
		}
	}
	if _, _, err := n.Files(ctx, "00000000-0000-0000-0000-000000000000", 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown cursor: %v", err)
	}
}

func TestDevLocalPayments(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	n := startDev(t, t.TempDir(), clock)
	ctx := t.Context()
	f, err := n.Upload(ctx, Upload{Name: "x", Duration: 10 * 86400, Body: bytes.NewReader(randomBytes(6, 1<<20))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); err != nil {
		t.Fatal(err)
	}
	all, err := n.LocalPayments(ctx, clock.Now(), clock.Now().Add(20*86400*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Price - all.Amount; d < 0 || d > 1 {
		t.Fatalf("whole term report = %d, paid %d", all.Amount, f.Price)
	}
	if all.Size != f.Size {
		t.Fatalf("report size = %d, want %d", all.Size, f.Size)
	}
	first, err := n.LocalPayments(ctx, clock.Now(), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := f.Price / 10; first.Amount < want-1 || first.Amount > want+1 {
		t.Fatalf("one day of ten = %d, want about %d", first.Amount, want)
	}
}

func TestDevUploadValidation(t *testing.T) {
	n := startDev(t, t.TempDir(), SystemClock)
	ctx := t.Context()
	for _, u := range []Upload{
		{Name: "", Body: bytes.NewReader(nil)},
		{Name: string(make([]byte, 256)), Body: bytes.NewReader(nil)},
		{Name: "a\x01b", Body: bytes.NewReader(nil)},
		{Name: "ok", Duration: -1, Body: bytes.NewReader(nil)},
		{Name: "ok", Duration: 1 << 40, Body: bytes.NewReader(nil)},
	} {
		var fe *FieldError
		if _, err := n.Upload(ctx, u); !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
			t.Errorf("upload %q/%d: %v, want a FieldError", u.Name, u.Duration, err)
		}
	}
	n.cfg.MaxUpload = 1000
	if _, err := n.Upload(ctx, Upload{Name: "big", Body: bytes.NewReader(make([]byte, 1001))}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	n.cfg.MaxUpload = 1 << 20
	n.cfg.Capacity = 100
	// A node out of room is not the client's fault (413) but the node's
	// state (507): another node, or this one later, may take the file.
	if _, err := n.Upload(ctx, Upload{Name: "over capacity", Body: bytes.NewReader(make([]byte, 101))}); !errors.Is(err, ErrInsufficientStorage) {
		t.Fatalf("over the free capacity: %v", err)
	}
	if _, err := n.Upload(ctx, Upload{Name: "over capacity", MinSize: 101, Body: bytes.NewReader(make([]byte, 101))}); !errors.Is(err, ErrInsufficientStorage) {
		t.Fatalf("declared over the free capacity: %v", err)
	}
	var files []File
	files, _, _ = n.Files(ctx, "", 10)
	if len(files) != 0 {
		t.Fatalf("refused uploads left files: %v", files)
	}
	if _, err := n.store.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if u := n.store.Usage(); u.Chunks != 0 {
		t.Fatalf("refused uploads left chunks: %+v", u)
	}
}

func TestDevEmptyFile(t *testing.T) {
	n := startDev(t, t.TempDir(), SystemClock)
	ctx := t.Context()
	f, err := n.Upload(ctx, Upload{Name: "empty", Body: bytes.NewReader(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, n, f.ID, 0, -1); len(b) != 0 {
		t.Fatalf("empty file read %d bytes", len(b))
	}
}

// TestDevLoopsExpireAndCollect leaves expiry and GC to the node's own loops.
func TestDevLoopsExpireAndCollect(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	n := startDevWith(t, t.TempDir(), clock, func(cfg *Config) {
		cfg.ExpiryInterval, cfg.GCInterval = 10*time.Millisecond, 10*time.Millisecond
	})
	ctx := t.Context()
	f, err := n.Upload(ctx, Upload{Name: "loop.bin", Duration: 60, Body: bytes.NewReader(randomBytes(7, 3<<20))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(61 * time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := n.Content(ctx, f.ID)
		if errors.Is(err, ErrGone) && n.store.Usage().Chunks == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: content %v, store %+v", err, n.store.Usage())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An upload's staged data is pinned before its quote reaches the ledger:
// the reconcile loop, running all the time here, must not take it for a
// leftover in between (it did, and the paid file then had nothing to place).
func TestUploadsSurviveReconcile(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	n := startDevWith(t, t.TempDir(), clock, func(cfg *Config) {
		cfg.ExpiryInterval, cfg.GCInterval = time.Millisecond, time.Millisecond
	})
	ctx := t.Context()
	for i := range 40 {
		data := randomBytes(uint64(100+i), 5000+i)
		f, err := n.Upload(ctx, Upload{Name: "r.bin", Duration: 3600, Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Pay(ctx, PaymentRequest{FileID: f.ID, Status: api.PaymentSuccess, Amount: f.Price}); err != nil {
			t.Fatalf("upload %d: pay: %v", i, err)
		}
		if got := readAll(t, n, f.ID, 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("upload %d: read %d bytes that differ", i, len(got))
		}
	}
}
