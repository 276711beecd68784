package billing

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// t0 is the start of every scenario.
var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// testKeys caches the fixed keys of the test peers.
var testKeys sync.Map // int -> ed25519.PrivateKey

// testKey returns the fixed key of test peer i.
func testKey(i int) ed25519.PrivateKey {
	if k, ok := testKeys.Load(i); ok {
		return k.(ed25519.PrivateKey)
	}
	seed := sha256.Sum256(fmt.Appendf(nil, "dds-billing-test-%d", i))
	k := ed25519.NewKeyFromSeed(seed[:])
	testKeys.Store(i, k)
	return k
}

// testNames maps the test peers' names (peer ids) to their keys.
var testNames sync.Map // name -> ed25519.PrivateKey

// peerName returns test peer i's name: the peer id of its key (the ledger
// binds a member's id to its key).
func peerName(i int) string {
	k := testKey(i)
	id, err := PeerID(k.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	testNames.Store(id, k)
	return id
}

// keyOf returns the key of the test peer named name.
func keyOf(name string) (ed25519.PrivateKey, bool) {
	k, ok := testNames.Load(name)
	if !ok {
		return nil, false
	}
	return k.(ed25519.PrivateKey), true
}

// proposer is the member that proposes c in the tests, unless c says:
// the founder its Init, a node its Register, an issuer its quote, a
// member the payments it took, peer-0 anything else.
func proposer(c Command) string {
	switch {
	case c.By != "":
		return c.By
	case c.Init != nil:
		return c.Init.Founder
	case c.Register != nil:
		return c.Register.Node.PeerID
	case c.Quote != nil:
		return c.Quote.Quote.Issuer
	case c.Pay != nil:
		return c.Pay.ReceivedBy
	}
	return peerName(0)
}

// signed returns c signed by its proposer, unless c names its proposer
// or carries a signature already (a test's own); a proposer with no test
// key leaves c unsigned (and refused).
func signed(c Command) Command {
	if c.Sig != nil || c.By != "" {
		return c
	}
	by := proposer(c)
	key, ok := keyOf(by)
	if !ok {
		c.By = by
		return c
	}
	s, err := c.Sign(by, key)
	if err != nil {
		return c
	}
	return s
}

// testAdmission is the admission key of every test network.
func testAdmission() ed25519.PrivateKey { return testKey(1000) }

// initCmd initialises a test network with set, founded by peer-0.
func initCmd(set Settings) *Init {
	return &Init{Settings: set, AdmissionKey: testAdmission().Public().(ed25519.PublicKey), Founder: peerName(0)}
}

// admitCmd admits test peer i with an invite valid for a year from t0.
func admitCmd(i int) *Admit {
	return &Admit{Invite: SignInvite(testAdmission(), peerName(i), t0.Add(365*24*time.Hour))}
}

const testPeers = 6

// fixture is a State with settings and registered peers peer-0..peer-5,
// and a clock that the test moves.
type fixture struct {
	t    testing.TB
	s    *State
	now  time.Time
	keys map[string]ed25519.PrivateKey
	set  Settings
	cmds []Command // every command applied, for replays
}

// newFixture starts a network with set at t0, its Init changed by mods.
func newFixture(t testing.TB, set Settings, mods ...func(*Init)) *fixture {
	t.Helper()
	return newFixtureAt(t, set, t0, mods...)
}

// newFixtureAt is newFixture starting at start.
func newFixtureAt(t testing.TB, set Settings, start time.Time, mods ...func(*Init)) *fixture {
	t.Helper()
	f := &fixture{t: t, s: NewState(), now: start, keys: make(map[string]ed25519.PrivateKey), set: set}
	init := initCmd(set)
	for _, m := range mods {
		m(init)
	}
	f.must(Command{Init: init})
	for i := range testPeers {
		if i > 0 {
			f.must(Command{Admit: admitCmd(i)})
		}
		k := testKey(i)
		f.keys[peerName(i)] = k
		f.must(Command{Register: &Register{Node: Node{PeerID: peerName(i), PublicKey: k.Public().(ed25519.PublicKey)}}})
	}
	return f
}

// apply applies cmd at the fixture's time (unless cmd has one).
func (f *fixture) apply(cmd Command) Result {
	f.t.Helper()
	if cmd.Time.IsZero() {
		cmd.Time = f.now
	}
	cmd = signed(cmd)
	f.cmds = append(f.cmds, cmd)
	res := f.s.Apply(cmd)
	if res.Err != nil && res.Err.Code == codeInternal {
		f.t.Fatalf("internal error: %v", res.Err)
	}
	return res
}

// encode is cmd's encoding, at the fixture's time unless cmd has one.
func (f *fixture) encode(cmd Command) []byte {
	f.t.Helper()
	if cmd.Time.IsZero() {
		cmd.Time = f.now
	}
	b, err := signed(cmd).Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) must(cmd Command) Result {
	f.t.Helper()
	res := f.apply(cmd)
	if res.Err != nil {
		f.t.Fatalf("apply %s: %v", cmd.Kind(), res.Err)
	}
	return res
}

// refused applies cmd and checks it is refused with want.
func (f *fixture) refused(cmd Command, want *Error) Result {
	f.t.Helper()
	before := f.s.Hash()
	res := f.apply(cmd)
	if !errors.Is(res.Refusal(), want) {
		f.t.Fatalf("apply %s: got %v, want %s", cmd.Kind(), res.Err, want.Code)
	}
	if f.s.Hash() != before {
		f.t.Fatalf("refused %s changed the state", cmd.Kind())
	}
	return res
}

func (f *fixture) advance(d time.Duration) { f.now = f.now.Add(d) }

// newQuote is a valid new quote for file id, issued by peer-0 now.
func (f *fixture) newQuote(id string, size, duration int64) Quote {
	q := Quote{
		FileID: id, Kind: QuoteNew, Issuer: peerName(0), CID: "bafy-" + id, Size: size,
		Name: id + ".bin", Duration: duration, Replicas: f.set.Replicas, CreatedAt: f.now,
		ExpiresAt: f.now.Add(time.Duration(f.set.QuoteLifetime) * time.Second),
	}
	q.Price = Price(f.set, size, duration, f.set.Replicas)
	return q
}

// extQuote is a valid extension quote for file id to newTerm seconds.
func (f *fixture) extQuote(id string, newTerm int64) Quote {
	f.t.Helper()
	file, ok := f.s.File(id)
	if !ok {
		f.t.Fatalf("no file %s", id)
	}
	q := Quote{
		FileID: id, Kind: QuoteExtension, Issuer: peerName(0), CID: file.CID, Size: file.Size,
		Name: file.Name, Duration: newTerm, PrevDuration: file.Duration, Replicas: f.set.Replicas,
		CreatedAt: f.now, ExpiresAt: f.now.Add(time.Duration(f.set.QuoteLifetime) * time.Second),
	}
	q.Price = Price(f.set, q.Size, newTerm-file.Duration, f.set.Replicas)
	return q
}

// attest signs q by the given peers (by number).
func (f *fixture) attest(q Quote, peers ...int) []Attestation {
	out := make([]Attestation, 0, len(peers))
	for _, i := range peers {
		out = append(out, Attest(q, peerName(i), testKey(i)))
	}
	return out
}

// attesters are the peers that attest by default: the issuer itself in dev
// settings, else peers 1..Threshold.
func (f *fixture) attesters() []int {
	if f.set.SelfAttest {
		return []int{0}
	}
	out := make([]int, 0, f.set.Threshold)
	for i := 1; i <= f.set.Threshold; i++ {
		out = append(out, i)
	}
	return out
}

func (f *fixture) putQuote(q Quote) Command {
	return Command{Quote: &PutQuote{Quote: q, Attestations: f.attest(q, f.attesters()...)}}
}

// upload records a new quote for id and returns it.
func (f *fixture) upload(id string, size, duration int64) Quote {
	f.t.Helper()
	q := f.newQuote(id, size, duration)
	f.must(f.putQuote(q))
	return q
}

func payCmd(id, paymentID, status string, amount int64) Command {
	return Command{Pay: &Pay{PaymentID: paymentID, FileID: id, Status: status, Amount: amount, ReceivedBy: peerName(0)}}
}

// paid uploads id and pays its quote now.
func (f *fixture) paid(id string, size, duration int64) Quote {
	f.t.Helper()
	q := f.upload(id, size, duration)
	f.must(payCmd(id, "pay-"+id, PaymentSuccess, q.Price))
	return q
}

func (f *fixture) receipt(id string, holder int) Receipt {
	f.t.Helper()
	file, ok := f.s.File(id)
	if !ok {
		f.t.Fatalf("no file %s", id)
	}
	return Receipt{FileID: id, CID: file.CID, Size: file.Size, Holder: peerName(holder)}.Sign(testKey(holder))
}

func (f *fixture) holdCmd(id string, holders ...int) Command {
	f.t.Helper()
	h := &Hold{FileID: id}
	for _, i := range holders {
		h.Receipts = append(h.Receipts, f.receipt(id, i))
	}
	return Command{Hold: h}
}

// dropCmd drops holder of file id on the failure reports of reporters,
// made now.
func (f *fixture) dropCmd(id string, holder int, reporters ...int) Command {
	d := &Drop{FileID: id, Holder: peerName(holder)}
	for _, i := range reporters {
		d.Reports = append(d.Reports, f.failure(id, holder, i, f.now))
	}
	return Command{Drop: d}
}

// failure is reporter's failure report about holder of file id, made at.
func (f *fixture) failure(id string, holder, reporter int, at time.Time) FailureReport {
	return FailureReport{FileID: id, Holder: peerName(holder), Reporter: peerName(reporter), At: at, Reason: "no answer"}.Sign(testKey(reporter))
}

func (f *fixture) file(id string) File {
	f.t.Helper()
	file, ok := f.s.File(id)
	if !ok {
		f.t.Fatalf("no file %s", id)
	}
	return file
}
