package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeService behaves like the node for the API: uploads are quoted,
// quotes are paid or cancelled, paid files are read, terms extended.
type fakeService struct {
	mu       sync.Mutex
	now      time.Time
	files    map[string]*fakeFile
	order    []string // creation order, for pagination
	payments map[string]node.Payment
	uploads  int // Upload calls that quoted
	calls    int // Upload calls, quoted or not
	up       bool
	behind   uint64 // Status.Behind
	diskFull bool   // Status.DiskFull
	maxTerm  int64
	discard  bool     // do not keep the bytes (benchmarks)
	removed  []string // RemoveMember calls: "peer@time:first signature bytes"
	accounts map[string]*node.Account
	keys     map[string]string // API key -> account id
}

type fakeFile struct {
	node.File
	data []byte
}

const fakeRate = 10 // nanotokens per byte

func newFakeService() *fakeService {
	return &fakeService{
		now:      time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		files:    map[string]*fakeFile{},
		payments: map[string]node.Payment{},
		accounts: map[string]*node.Account{},
		keys:     map[string]string{},
		up:       true,
		maxTerm:  10 * 365 * 24 * 3600,
	}
}

func (f *fakeService) Upload(ctx context.Context, u node.Upload) (node.File, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if u.Name == "" {
		return node.File{}, &node.FieldError{Pointer: "/data/attributes/name", Code: api.CodeRequired, Detail: "name is required"}
	}
	h := sha256.New()
	var buf bytes.Buffer
	var w io.Writer = io.MultiWriter(h, &buf)
	if f.discard {
		w = io.Discard
	}
	n, err := io.Copy(w, u.Body)
	if err != nil {
		return node.File{}, fmt.Errorf("ingest: %w", err)
	}
	d := u.Duration
	if d == 0 {
		d = 2592000
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	file := &fakeFile{File: node.File{
		ID: uuid.NewString(), Name: u.Name, CID: "bafk" + hex.EncodeToString(h.Sum(nil))[:40], Size: n,
		Additional: u.Additional, State: api.StateQuoted, Duration: d, Price: max(1000, n*fakeRate),
		QuoteExpiresAt: f.now.Add(time.Hour), CreatedAt: f.now, AttestedBy: []string{"p1", "p2", "p3"},
		Owner: u.Owner.Account, Private: u.Private,
	}, data: buf.Bytes()}
	f.files[file.ID] = file
	f.order = append(f.order, file.ID)
	f.uploads++
	return file.File, nil
}

func (f *fakeService) File(ctx context.Context, id string) (node.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.files[id]; ok {
		return fl.File, nil
	}
	return node.File{}, node.ErrNotFound
}

func (f *fakeService) AccountFiles(ctx context.Context, account, after string, limit int, state string) ([]node.File, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var mine []string
	for _, id := range f.order {
		if fl := f.files[id]; fl.Owner == account && (state == "" || fl.State == state) {
			mine = append(mine, id)
		}
	}
	start := 0
	if after != "" {
		i := slices.Index(mine, after)
		if i < 0 {
			return nil, "", node.ErrNotFound
		}
		start = i + 1
	}
	end := min(start+limit, len(mine))
	var out []node.File
	for _, id := range mine[start:end] {
		out = append(out, f.files[id].File)
	}
	next := ""
	if end < len(mine) {
		next = mine[end-1]
	}
	return out, next, nil
}

func (f *fakeService) OpenAccount(ctx context.Context, name string) (node.Account, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := &node.Account{ID: uuid.NewString(), Name: name, OpenedAt: f.now}
	key := "dds_" + uuid.NewString()
	f.accounts[a.ID], f.keys[key] = a, a.ID
	return *a, key, nil
}

func (f *fakeService) Account(ctx context.Context, id string) (node.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[id]
	if !ok {
		return node.Account{}, node.ErrNotFound
	}
	return *a, nil
}

func (f *fakeService) Authenticate(ctx context.Context, key string) (node.Caller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.keys[key]
	if !ok {
		return node.Caller{}, fmt.Errorf("%w: no account has this API key", node.ErrUnauthorized)
	}
	return node.Caller{Account: id, APIKey: key}, nil
}

// credit adds amount to an account's balance (the tests' payment processor).
func (f *fakeService) credit(id string, amount int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[id].Balance += amount
}

func (f *fakeService) PayFromBalance(ctx context.Context, id string, by node.Caller) (node.Payment, node.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.files[id]
	if !ok {
		return node.Payment{}, node.File{}, node.ErrNotFound
	}
	a := f.accounts[by.Account]
	if fl.State != api.StateQuoted {
		return node.Payment{}, fl.File, node.ErrAlreadyPaid
	}
	if a.Balance < fl.Price {
		return node.Payment{}, fl.File, fmt.Errorf("%w: balance too low", node.ErrPaymentRequired)
	}
	a.Balance -= fl.Price
	fl.State, fl.StoredAt, fl.ExpiresAt = api.StateStoring, f.now, f.now.Add(time.Duration(fl.Duration)*time.Second)
	pay := node.Payment{ID: uuid.NewString(), FileID: id, Status: api.PaymentSuccess, Amount: fl.Price, CreatedAt: f.now, FromAccount: a.ID}
	f.payments[pay.ID] = pay
	return pay, fl.File, nil
}

func (f *fakeService) CreateS3Key(ctx context.Context, by node.Caller) (node.S3Key, error) {
	return node.S3Key{AccessKeyID: "DDSTESTKEY", Secret: "secret", Account: by.Account}, nil
}

func (f *fakeService) Delete(ctx context.Context, id string, by node.Caller) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.files[id]
	switch {
	case !ok:
		return node.ErrNotFound
	case fl.Owner == "" || fl.Owner != by.Account:
		return fmt.Errorf("%w: not the owner", node.ErrForbidden)
	case fl.State == api.StateDeleted:
		return node.ErrGone
	}
	fl.State = api.StateDeleted
	return nil
}

func (f *fakeService) Content(ctx context.Context, id string) (node.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.files[id]
	switch {
	case !ok:
		return node.File{}, node.ErrNotFound
	case fl.State == api.StateQuoted || fl.State == api.StateCancelled:
		return fl.File, node.ErrPaymentRequired
	case fl.State == api.StateExpired, fl.State == api.StateDeleted:
		return fl.File, node.ErrGone
	}
	return fl.File, nil
}

func (f *fakeService) Read(ctx context.Context, id string, off, length int64) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.files[id]
	if !ok {
		return nil, node.ErrNotFound
	}
	if off < 0 || off+length > int64(len(fl.data)) {
		return nil, fmt.Errorf("read %d+%d of %d: %w", off, length, len(fl.data), node.ErrInvalid)
	}
	return io.NopCloser(bytes.NewReader(fl.data[off : off+length])), nil
}

func (f *fakeService) Patch(ctx context.Context, id string, p node.Patch) (node.File, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.files[id]
	switch {
	case !ok:
		return node.File{}, false, node.ErrNotFound
	case fl.State == api.StateExpired:
		return node.File{}, false, node.ErrGone
	case p.Additional != nil && fl.Owner != "" && p.By.Account == "":
		return node.File{}, false, fmt.Errorf("%w: the owner's key is needed", node.ErrUnauthorized)
	case p.Additional != nil && fl.Owner != "" && p.By.Account != fl.Owner:
		return node.File{}, false, fmt.Errorf("%w: not the owner", node.ErrForbidden)
	case p.Duration != nil && *p.Duration <= fl.Duration:
		return node.File{}, false, fmt.Errorf("term %d is not longer than %d: %w", *p.Duration, fl.Duration, node.ErrConflict)
	}
	if p.Additional != nil {
		if fl.Additional == nil {
			fl.Additional = map[string]json.RawMessage{}
		}
		for k, v := range p.Additional {
			if string(v) == "null" {
				delete(fl.Additional, k)
			} else {
				fl.Additional[k] = v
			}
		}
	}
	if p.Duration == nil {
		return fl.File, false, nil
	}
	fl.Price = max(1000, (*p.Duration-fl.Duration)*fl.Size/1000)
	fl.Duration = *p.Duration
	fl.State = api.StateExtensionQuoted
	fl.QuoteExpiresAt = f.now.Add(time.Hour)
	return fl.File, true, nil
}

func (f *fakeService) Pay(ctx context.Context, p node.PaymentRequest) (node.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.accounts[p.AccountID]; ok {
		a.Balance += p.Amount
		pay := node.Payment{ID: uuid.NewString(), AccountID: a.ID, Status: p.Status, Amount: p.Amount, CreatedAt: f.now}
		f.payments[pay.ID] = pay
		return pay, nil
	}
	fl, ok := f.files[p.FileID]
	switch {
	case !ok:
		return node.Payment{}, node.ErrNotFound
	case fl.State == api.StateStored:
		return node.Payment{}, node.ErrAlreadyPaid
	case fl.State != api.StateQuoted && fl.State != api.StateExtensionQuoted:
		return node.Payment{}, node.ErrConflict
	case f.now.After(fl.QuoteExpiresAt):
		return node.Payment{}, node.ErrQuoteExpired
	case p.Status == api.PaymentSuccess && p.Amount < fl.Price:
		return node.Payment{}, node.ErrAmountTooLow
	}
	if p.Status == api.PaymentError {
		fl.State = api.StateCancelled
	} else {
		fl.State, fl.StoredAt, fl.ExpiresAt = api.StateStored, f.now, f.now.Add(time.Duration(fl.Duration)*time.Second)
		fl.Replicas = []string{"p1"}
	}
	pay := node.Payment{ID: uuid.NewString(), FileID: p.FileID, Status: p.Status, Amount: p.Amount, CreatedAt: f.now}
	f.payments[pay.ID] = pay
	return pay, nil
}

func (f *fakeService) Payment(ctx context.Context, id string) (node.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.payments[id]; ok {
		return p, nil
	}
	return node.Payment{}, node.ErrNotFound
}

func (f *fakeService) LocalPayments(ctx context.Context, from, to time.Time) (node.LocalReport, error) {
	return node.LocalReport{From: from, To: to, Amount: 1_250_000_000, Size: 73400320}, nil
}

func (f *fakeService) Status(ctx context.Context) node.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.up {
		return node.Status{Up: true, Leader: "p1", Index: 42, Behind: f.behind, DiskFull: f.diskFull}
	}
	return node.Status{Reason: "no billing quorum"}
}

func (f *fakeService) MaxTerm(context.Context) int64 { return f.maxTerm }

// RemoveMember refuses "not-a-member" (404) and "forged" (403), records
// the others.
func (f *fakeService) RemoveMember(_ context.Context, peerID string, at time.Time, sig []byte) error {
	switch peerID {
	case "not-a-member":
		return fmt.Errorf("%w: %s is not a member", node.ErrNotFound, peerID)
	case "forged":
		return fmt.Errorf("%w: removal of %s is not signed by this network's admission key", node.ErrForbidden, peerID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, fmt.Sprintf("%s@%s:%x", peerID, at.UTC().Format(time.RFC3339), sig[:4]))
	return nil
}

func (f *fakeService) Info(ctx context.Context) api.Info {
	return api.Info{
		Name: "dds", Description: "test node", Version: "test", PeerID: "p1", Addrs: []string{"/ip4/127.0.0.1/tcp/1"},
		Prices:   api.PriceTable{Rate: 1_000_000, MinimumPrice: 1000, QuoteLifetime: 3600, MaxTerm: f.maxTerm},
		Replicas: 1, ChunkSize: 1 << 20, Capacity: 1 << 30, Free: 1 << 29, Quorum: []api.Member{{PeerID: "p1", PublicKey: "AAAA", Role: "voter"}},
		Threshold: 3, LapsedQuoteRetention: 86400, TombstoneRetention: 2592000,
	}
}

// state is a summary of what the fake holds, to show a request changed nothing.
func (f *fakeService) state() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b bytes.Buffer
	fmt.Fprintf(&b, "uploads=%d payments=%d", f.uploads, len(f.payments))
	for _, id := range slices.Sorted(maps.Keys(f.files)) {
		fl := f.files[id]
		ad, _ := json.Marshal(fl.Additional)
		fmt.Fprintf(&b, " %s:%s:%d:%s", id, fl.State, fl.Duration, ad)
	}
	return b.String()
}

// fakeRecords keeps idempotency records in memory.
type fakeRecords struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (r *fakeRecords) Get(ctx context.Context, key string) ([]byte, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[key]
	return v, ok, nil
}

func (r *fakeRecords) Put(ctx context.Context, key string, val []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string][]byte{}
	}
	r.m[key] = bytes.Clone(val)
	return nil
}

const testToken = "s3cret-billing-token"

// newTestServer starts a Server over a fresh fake.
func newTestServer(t testing.TB, opts ...func(*Config)) (*Server, *fakeService) {
	t.Helper()
	svc := newFakeService()
	return testServer(t, svc, &fakeRecords{}, opts...), svc
}

// testServer serves svc with the tests' configuration, adjusted by opts.
func testServer(t testing.TB, svc Service, records Records, opts ...func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Service, cfg.Records, cfg.BillingToken = svc, records, testToken
	cfg.Registry = prometheus.NewRegistry()
	cfg.MaxUpload = 8 << 20
	cfg.Version = "v-test"
	cfg.SpoolDir = t.TempDir()
	cfg.SpoolMemory = 64 << 10
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
