package billing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// source turns fuzz bytes into choices; past the end every choice is 0.
type source struct {
	b []byte
	i int
}

func (g *source) byte() byte {
	if g.i >= len(g.b) {
		return 0
	}
	g.i++
	return g.b[g.i-1]
}

func (g *source) n(k int) int { return int(g.byte()) % k }

func (g *source) more() bool { return g.i < len(g.b) }

// scenario generates commands from fuzz bytes against a live State, so that
// most commands refer to real files and carry valid signatures.
type scenario struct {
	g     *source
	s     *State
	now   time.Time
	set   Settings
	files []string
	pays  []string
}

const fuzzPeers = 6 // peers 0..4 registered at start, 5 maybe later

func (sc *scenario) pickFile() string {
	if len(sc.files) == 0 || sc.g.n(16) == 0 {
		return fmt.Sprintf("ghost%d", sc.g.n(3))
	}
	return sc.files[sc.g.n(len(sc.files))]
}

func (sc *scenario) signers(q Quote) []Attestation {
	var atts []Attestation
	mask := sc.g.byte()
	if mask < 160 { // usually the right set: the issuer in dev, else 3 others
		if sc.set.SelfAttest {
			return []Attestation{Attest(q, q.Issuer, testKey(0))}
		}
		for i := 1; i <= sc.set.Threshold && i < fuzzPeers; i++ {
			atts = append(atts, Attest(q, peerName(i), testKey(i)))
		}
		return atts
	}
	for i := range fuzzPeers {
		if mask&(1<<i) != 0 {
			atts = append(atts, Attest(q, peerName(i), testKey(i)))
		}
	}
	if len(atts) > 0 && sc.g.n(4) == 0 {
		atts[0].Signature[sc.g.n(64)] ^= 1 << sc.g.n(8)
	}
	return atts
}

func (sc *scenario) next() Command {
	g := sc.g
	switch g.n(10) {
	case 0: // the clock moves, usually forward
		steps := []time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour, 30 * 24 * time.Hour}
		d := time.Duration(g.byte()) * steps[g.n(len(steps))]
		if g.n(8) == 0 {
			d = -d / 4
		}
		sc.now = sc.now.Add(d)
		return Command{Time: sc.now, Expire: &Expire{}}
	case 1:
		i := g.n(fuzzPeers)
		k := testKey(i)
		if g.n(4) == 0 {
			k = testKey(100 + i)
		}
		return Command{Time: sc.now, Register: &Register{Node: Node{PeerID: peerName(i), PublicKey: k.Public().(ed25519.PublicKey), HTTP: fmt.Sprint("h", g.n(3))}}}
	case 2, 3:
		id := fmt.Sprintf("f%d", len(sc.files))
		if len(sc.files) > 0 && g.n(8) == 0 {
			id = sc.files[g.n(len(sc.files))]
		}
		sizes := []int64{0, 1, 1 << 20, 5 * GiB, 1 << 50}
		durs := []int64{1, 60, 3600, dayS, 30 * dayS, sc.set.MaxTerm, 0, sc.set.MaxTerm + 1}
		q := Quote{FileID: id, Kind: QuoteNew, Issuer: peerName(g.n(2)), CID: "cid-" + id, Name: id,
			Size: sizes[g.n(len(sizes))], Duration: durs[g.n(len(durs))], Replicas: sc.set.Replicas,
			CreatedAt: sc.now.Add(-time.Duration(g.n(4)) * time.Minute)}
		q.ExpiresAt = q.CreatedAt.Add(time.Duration(sc.set.QuoteLifetime) * time.Second)
		q.Price = Price(sc.set, q.Size, q.Duration, q.Replicas)
		atts := sc.signers(q)
		if g.n(10) == 0 {
			q.Price++
		}
		if !slices.Contains(sc.files, id) {
			sc.files = append(sc.files, id)
		}
		pq := &PutQuote{Quote: q, Attestations: atts}
		if g.n(4) == 0 {
			pq.Additional = map[string]json.RawMessage{"k": json.RawMessage(fmt.Sprint(g.n(100)))}
		}
		return Command{Time: sc.now, Quote: pq}
	case 4: // extension
		id := sc.pickFile()
		file, _ := sc.s.File(id)
		add := []int64{0, 1, 60, dayS, 30 * dayS, sc.set.MaxTerm}[g.n(6)]
		prev := file.Duration
		if g.n(8) == 0 {
			prev = max(prev-1, 1)
		}
		q := Quote{FileID: id, Kind: QuoteExtension, Issuer: peerName(g.n(2)), CID: file.CID, Name: file.Name,
			Size: file.Size, Duration: file.Duration + add, PrevDuration: prev, Replicas: sc.set.Replicas,
			CreatedAt: sc.now}
		q.ExpiresAt = q.CreatedAt.Add(time.Duration(sc.set.QuoteLifetime) * time.Second)
		q.Price = Price(sc.set, q.Size, q.Duration-q.PrevDuration, q.Replicas)
		return Command{Time: sc.now, Quote: &PutQuote{Quote: q, Attestations: sc.signers(q)}}
	case 5, 6: // payment
		id := sc.pickFile()
		file, _ := sc.s.File(id)
		pid := fmt.Sprintf("p%d", len(sc.pays))
		if len(sc.pays) > 0 && g.n(6) == 0 {
			pid = sc.pays[g.n(len(sc.pays))]
		} else {
			sc.pays = append(sc.pays, pid)
		}
		amount := file.Price + int64(g.n(3)) - 1
		switch g.n(8) {
		case 0:
			amount = 0
		case 1:
			amount = 1<<63 - 1
		case 2:
			amount = -1
		}
		status := []string{PaymentSuccess, PaymentSuccess, PaymentSuccess, PaymentError, "odd"}[g.n(5)]
		return Command{Time: sc.now, Pay: &Pay{PaymentID: pid, FileID: id, Status: status, Amount: amount, ReceivedBy: peerName(g.n(fuzzPeers))}}
	case 7:
		vals := []string{"1", "null", `"x"`, `{"a":[1,2]}`, "{"}
		m := map[string]json.RawMessage{}
		for range g.n(4) {
			m[fmt.Sprint("k", g.n(5))] = json.RawMessage(vals[g.n(len(vals))])
		}
		return Command{Time: sc.now, Update: &Update{FileID: sc.pickFile(), Additional: m}}
	case 8:
		id := sc.pickFile()
		file, _ := sc.s.File(id)
		h := &Hold{FileID: id}
		for range 1 + g.n(3) {
			i := g.n(fuzzPeers)
			r := Receipt{FileID: id, CID: file.CID, Size: file.Size, Holder: peerName(i)}.Sign(testKey(i))
			if g.n(10) == 0 {
				r.Signature[0] ^= 1
			}
			h.Receipts = append(h.Receipts, r)
		}
		if g.n(3) == 0 { // a holder lost (or failing audits) is dropped, on reports of some peers
			holder := peerName(g.n(fuzzPeers))
			if holders := file.Holders; len(holders) > 0 {
				holder = holders[g.n(len(holders))]
			}
			d := &Drop{FileID: id, Holder: holder}
			for range g.n(4) {
				i := g.n(fuzzPeers)
				r := FailureReport{FileID: id, Holder: holder, Reporter: peerName(i), At: sc.now.Add(-time.Duration(g.n(900)) * time.Second)}.Sign(testKey(i))
				if g.n(10) == 0 {
					r.Signature[0] ^= 1
				}
				d.Reports = append(d.Reports, r)
			}
			return Command{Time: sc.now, Drop: d}
		}
		return Command{Time: sc.now, Hold: h}
	default:
		if g.n(8) == 0 {
			return Command{Time: sc.now, Init: &Init{Settings: DefaultSettings()}}
		}
		return Command{Time: sc.now, Expire: &Expire{}}
	}
}

func fuzzSettings(g *source) Settings {
	switch g.n(3) {
	case 0:
		return DevSettings()
	case 1:
		s := DefaultSettings()
		s.Replicas, s.Threshold, s.MinPrice = 2, 2, 0
		return s
	default:
		return DefaultSettings()
	}
}

// checkInvariants checks the ledger's accounting after every command.
func checkInvariants(t *testing.T, s *State) {
	t.Helper()
	var sumPayments, sumFiles int64
	count := 0
	leases := map[string]bool{}
	perFile := map[string]int64{}
	for _, p := range s.payments {
		if p.Status == PaymentSuccess {
			sumPayments += p.Amount
			perFile[p.FileID] += p.Amount
			count++
			if p.Kind == QuoteNew {
				if leases[p.FileID] {
					t.Fatalf("file %s paid twice as new", p.FileID)
				}
				leases[p.FileID] = true
			}
		}
	}
	checkIndex(t, s)
	forgotten := sumPayments // what files the ledger forgot were paid
	for _, rec := range s.files {
		if rec == nil {
			continue
		}
		f := rec.File
		sumFiles += f.Paid
		forgotten -= perFile[f.ID]
		if f.Paid != perFile[f.ID] {
			t.Fatalf("file %s: paid %d, payments %d", f.ID, f.Paid, perFile[f.ID])
		}
		if f.Leased() != leases[f.ID] {
			t.Fatalf("file %s: lease %v without a paid new quote", f.ID, f.Leased())
		}
		if f.Leased() {
			if !f.ExpiresAt.Equal(f.StoredAt.Add(time.Duration(f.Duration) * time.Second)) {
				t.Fatalf("file %s: lease end %s != start %s + %d s", f.ID, f.ExpiresAt, f.StoredAt, f.Duration)
			}
			end := f.StoredAt
			if f.State == StateExpired {
				end = f.ExpiresAt // a tombstone: its segments went to an accrual
			}
			for _, sg := range rec.Segments {
				if !sg.Start.Equal(end) || !sg.End.After(sg.Start) {
					t.Fatalf("file %s: segments not contiguous", f.ID)
				}
				end = sg.End
			}
			if !end.Equal(f.ExpiresAt) {
				t.Fatalf("file %s: segments end at %s, lease at %s", f.ID, end, f.ExpiresAt)
			}
		} else if !f.ExpiresAt.IsZero() || len(rec.Segments) > 0 || len(f.Holders) > 0 {
			t.Fatalf("file %s: lease data without a lease", f.ID)
		}
		switch f.State {
		case StateQuoted:
			if f.Leased() || f.Quote == nil || f.Quote.Kind != QuoteNew {
				t.Fatalf("file %s: bad quoted state", f.ID)
			}
		case StateExtensionQuoted:
			if !f.Leased() || f.Quote == nil || f.Quote.Kind != QuoteExtension || f.Quote.PrevDuration != f.Duration {
				t.Fatalf("file %s: bad extension state", f.ID)
			}
		case StateStoring, StateStored:
			if !f.Leased() || f.Quote != nil || (f.State == StateStored) != (len(f.Holders) >= s.settings.Replicas) {
				t.Fatalf("file %s: bad %s state", f.ID, f.State)
			}
		case StateCancelled:
			if f.Leased() || f.Quote != nil {
				t.Fatalf("file %s: bad cancelled state", f.ID)
			}
		case StateExpired:
			if f.Quote != nil {
				t.Fatalf("file %s: expired with an open quote", f.ID)
			}
		}
		switch f.State {
		case StateExpired, StateCancelled:
			if rec.Ended.IsZero() || f.Additional != nil || f.Holders != nil || rec.Segments != nil || rec.Holdings != nil {
				t.Fatalf("file %s: %s but not a tombstone", f.ID, f.State)
			}
		case StateQuoted, StateStoring, StateStored, StateExtensionQuoted:
			if !rec.Ended.IsZero() {
				t.Fatalf("file %s: %s with an end time", f.ID, f.State)
			}
		default:
			t.Fatalf("file %s: state %q", f.ID, f.State)
		}
		if len(f.Holders) > s.settings.Replicas || len(slices.Compact(slices.Sorted(slices.Values(f.Holders)))) != len(f.Holders) {
			t.Fatalf("file %s: holders %v", f.ID, f.Holders)
		}
	}
	paid, n := s.Totals()
	if paid != sumPayments || paid != sumFiles+forgotten || n != count {
		t.Fatalf("totals %d/%d, payments %d/%d, files %d", paid, n, sumPayments, count, sumFiles)
	}
}

// checkIndex checks the deadline index and the creation order: every known
// file is in the heap at its slot with its deadline, the heap is ordered,
// and positions and cursors match.
func checkIndex(t *testing.T, s *State) {
	t.Helper()
	if len(s.due) != len(s.byID) {
		t.Fatalf("%d deadlines for %d files", len(s.due), len(s.byID))
	}
	for i, rec := range s.due {
		if rec.slot != i || s.byID[rec.File.ID] != rec || !rec.due.Equal(rec.deadline(s.settings)) {
			t.Fatalf("deadline %d: file %s out of place", i, rec.File.ID)
		}
		if i > 0 && s.due.Less(i, (i-1)/2) {
			t.Fatalf("deadline %d: not a heap", i)
		}
	}
	holes := 0
	for i, rec := range s.files {
		if rec == nil {
			holes++
			continue
		}
		if rec.pos != i || s.created[i] != rec.File.CreatedAt.UnixNano() || (i > 0 && s.created[i-1] >= s.created[i]) {
			t.Fatalf("file %s at %d out of place", rec.File.ID, i)
		}
	}
	if holes != s.holes || len(s.files)-holes != len(s.byID) || len(s.created) != len(s.files) {
		t.Fatalf("%d holes, counted %d; %d files, %d known", s.holes, holes, len(s.files), len(s.byID))
	}
	for i := 1; i < len(s.accruals); i++ {
		if accrualCmp(s.accruals[i-1], s.accruals[i]) > 0 {
			t.Fatalf("accrual %d out of order", i)
		}
	}
}

func runScenario(t *testing.T, data []byte) {
	g := &source{b: data}
	sc := &scenario{g: g, s: NewState(), now: t0.Add(time.Duration(g.byte()) * time.Hour)}
	sc.set = fuzzSettings(g)
	var cmds []Command
	apply := func(c Command) {
		c = signed(c)
		cmds = append(cmds, c)
		res := sc.s.Apply(c)
		if res.Err != nil && res.Err.Code == codeInternal {
			t.Fatalf("command %d (%s): %v", len(cmds), c.Kind(), res.Err)
		}
		checkInvariants(t, sc.s)
	}
	apply(Command{Time: sc.now, Init: initCmd(sc.set)})
	for i := range fuzzPeers - 1 {
		if i > 0 {
			apply(Command{Time: sc.now, Admit: admitCmd(i)})
		}
		apply(Command{Time: sc.now, Register: &Register{Node: Node{PeerID: peerName(i), PublicKey: testKey(i).Public().(ed25519.PublicKey)}}})
	}
	for n := 0; g.more() && n < 2000; n++ {
		apply(sc.next())
	}

	// Reports never hand out more than the paid quotes' prices.
	var prices, due int64
	for _, rec := range sc.s.files {
		if rec == nil {
			continue
		}
		for _, sg := range rec.Segments {
			prices += sg.Price
		}
	}
	for _, a := range sc.s.accruals {
		for _, sg := range a.Segments {
			prices += sg.Price
		}
	}
	for i := range fuzzPeers {
		r := sc.s.LocalReport(peerName(i), minTime, maxTime)
		if r.Amount < 0 || r.Size < 0 {
			t.Fatalf("negative report %+v", r)
		}
		due += r.Amount
	}
	if due > prices {
		t.Fatalf("reports hand out %d of %d", due, prices)
	}

	// Replaying the encoded commands through a Ledger gives the same state,
	// and so does a member that applies them quietly.
	l, member := NewLedger(), NewLedger()
	for i, c := range cmds {
		b, err := c.Encode()
		if err != nil {
			// Invalid JSON in additional cannot travel; Apply refused it.
			continue
		}
		l.Apply(uint64(i+1), b)
		member.ApplyQuiet([]uint64{uint64(i + 1)}, [][]byte{b})
	}
	want := sc.s.Hash()
	for name, l := range map[string]*Ledger{"ledger": l, "quiet member": member} {
		l.Read(func(s *State) {
			if s.Hash() != want {
				t.Fatalf("replay through the %s gives another state", name)
			}
		})
	}
	// Snapshot and restore give the same state, and the same commands
	// applied to both keep them equal.
	var buf bytes.Buffer
	if err := sc.s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	restored, err := ReadSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if restored.Hash() != want {
		t.Fatal("restored state has another hash")
	}
	tail := cmds[len(cmds)/2:]
	for _, c := range tail {
		a, b := sc.s.Apply(c), restored.Apply(c)
		if !bytes.Equal(a.Encode(), b.Encode()) {
			t.Fatalf("results differ after restore: %s vs %s", a.Encode(), b.Encode())
		}
	}
	if restored.Hash() != sc.s.Hash() {
		t.Fatal("restored state diverged")
	}
}

// fuzzSeeds returns fixed pseudo-random scenarios, so that plain go test
// runs a few hundred commands of every kind.
func fuzzSeeds() [][]byte {
	r := rand.New(rand.NewPCG(7, 11))
	var out [][]byte
	for i := range 24 {
		b := make([]byte, 200+i*40)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out = append(out, b)
	}
	return out
}

func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 2, 2, 0, 0, 5, 0, 0, 0, 0, 1, 8, 0, 1, 7})
	for _, b := range fuzzSeeds() {
		f.Add(b)
	}
	f.Fuzz(runScenario)
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte(`{"command":{"time":"2026-11-01T10:00:00Z","by":"p","expire":{}},"sig":"AAE="}`))
	f.Add([]byte(`{"command":{"time":"2026-11-01T10:00:00Z","by":"p","pay":{"payment_id":"p","file_id":"f","status":"success","amount":5}},"sig":null}`))
	f.Add([]byte(`{"command":{"time":"2026-11-01T10:00:00+02:00","by":"p","update":{"file_id":"f","additional":{"a":null,"b":[1, 2]}}}, "sig":"AAE="}`))
	f.Add([]byte(`{"command":{"time":"2026-11-01T10:00:00Z","expire":{},"init":{"settings":{}}}}`))
	f.Add([]byte(`{"command":{"time":"2026-11-01T10:00:00Z","expire":{}}} {}`))
	f.Add([]byte(`{"command":{"time":"2026-11-01T10:00:00Z","hold":{"file_id":"f","receipts":[{"holder":"h","signature":"AAE="}]}}}`))
	fx := newFixture(f, DefaultSettings())
	q := fx.newQuote("a", 10, 60)
	if b, err := signed(fx.putQuote(q)).Encode(); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		if c.Kind() == "" || c.Time.IsZero() {
			t.Fatalf("decoded a command without exactly one kind or time: %s", b)
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatalf("encode a decoded command: %v", err)
		}
		c2, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("decode an encoded command: %v\n%s", err, enc)
		}
		enc2, err := c2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
		// Applying any decoded command never panics nor hits a bug.
		if r := NewState().Apply(c); r.Err != nil && r.Err.Code == codeInternal {
			t.Fatalf("internal error: %v", r.Err)
		}
	})
}
