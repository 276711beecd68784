package billing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// scenarioState builds a ledger with files in every state.
func scenarioState(t *testing.T) *fixture {
	f := newFixture(t, DefaultSettings())
	f.paid("stored", 3*GiB, 30*dayS)
	f.must(f.holdCmd("stored", 1, 2, 3))
	f.paid("storing", 10, dayS)
	f.must(f.holdCmd("storing", 4))
	f.upload("quoted", 10, dayS)
	f.upload("cancelled", 10, dayS)
	f.must(payCmd("cancelled", "pc", PaymentError, 0))
	f.paid("ext", 10, dayS)
	f.must(f.putQuote(f.extQuote("ext", 2*dayS)))
	upd := Command{Update: &Update{FileID: "stored", Additional: map[string]json.RawMessage{"owner": json.RawMessage(`"alice"`)}}}
	f.must(upd)
	f.advance(2 * time.Hour)
	f.upload("lapsed", 10, 60)
	f.advance(time.Hour)
	f.must(Command{Expire: &Expire{}})
	f.advance(2 * dayS * time.Second)
	f.must(Command{Expire: &Expire{}})
	return f
}

func TestSnapshotRoundTrip(t *testing.T) {
	f := scenarioState(t)
	var buf bytes.Buffer
	if err := f.s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	first := bytes.Clone(buf.Bytes())
	r, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r.Hash() != f.s.Hash() {
		t.Fatal("hash differs after a round trip")
	}
	var again bytes.Buffer
	if err := r.WriteSnapshot(&again); err != nil || !bytes.Equal(first, again.Bytes()) {
		t.Fatalf("snapshot bytes differ after a round trip (%v)", err)
	}
	// Replaying every command on a new state gives the same hash.
	replay := NewState()
	for _, c := range f.cmds {
		replay.Apply(c)
	}
	if replay.Hash() != f.s.Hash() {
		t.Fatal("replay gives another hash")
	}
	// The same commands on the original and on the restored state.
	more := []Command{
		{Time: f.now, Quote: f.putQuote(f.newQuote("later", 10, 60)).Quote},
		{Time: f.now, Pay: &Pay{PaymentID: "pl", FileID: "later", Status: PaymentSuccess, Amount: Price(f.set, 10, 60, 3), ReceivedBy: peerName(0)}},
		{Time: f.now.Add(time.Hour), Expire: &Expire{}},
	}
	for _, c := range more {
		c = signed(c)
		a, b := f.s.Apply(c), r.Apply(c)
		if a.Err != nil || !bytes.Equal(a.Encode(), b.Encode()) {
			t.Fatalf("results: %s vs %s", a.Encode(), b.Encode())
		}
	}
	if r.Hash() != f.s.Hash() {
		t.Fatal("states diverged")
	}
	// Different states have different hashes.
	if NewState().Hash() == f.s.Hash() {
		t.Fatal("empty state has the same hash")
	}
	// An empty state round trips too.
	buf.Reset()
	if err := NewState().WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if e, err := ReadSnapshot(&buf); err != nil || e.Hash() != NewState().Hash() {
		t.Fatalf("empty state: %v", err)
	}
}

func TestReadSnapshotRefusesBadInput(t *testing.T) {
	f := scenarioState(t)
	var buf bytes.Buffer
	if err := f.s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	bad := map[string]string{
		"empty":          "",
		"not json":       "hello",
		"trailing":       good + "{}",
		"unknown field":  strings.Replace(good, `"version":3`, `"version":3,"x":2`, 1),
		"version":        strings.Replace(good, `"version":3`, `"version":9`, 1),
		"duplicate file": strings.Replace(good, `"id":"storing"`, `"id":"stored"`, 1),
		"bad state":      strings.Replace(good, `"state":"stored"`, `"state":"odd"`, 1),
		"bad lease":      strings.Replace(good, `"duration":2592000`, `"duration":2592001`, 1),
	}
	for name, s := range bad {
		if s == good {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if _, err := ReadSnapshot(strings.NewReader(s)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLedger(t *testing.T) {
	l := NewLedger()
	apply := func(index uint64, c Command) Result {
		t.Helper()
		b, err := signed(c).Encode()
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeResult(l.Apply(index, b))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := apply(1, Command{Time: t0, Init: initCmd(DevSettings())}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r, _ := DecodeResult(l.Apply(2, []byte("garbage"))); !errors.Is(r.Refusal(), ErrInvalid) {
		t.Fatalf("garbage: %v", r.Err)
	}
	if r := apply(2, Command{Time: t0, Expire: &Expire{}}); !errors.Is(r.Refusal(), ErrConflict) {
		t.Fatalf("replayed index: %v", r.Err)
	}
	if l.Index() != 2 {
		t.Fatalf("index %d", l.Index())
	}
	key := testKey(0)
	if r := apply(3, Command{Time: t0, Register: &Register{Node: Node{PeerID: peerName(0), PublicKey: key.Public().(ed25519.PublicKey)}}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	var snap bytes.Buffer
	if err := l.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	var hash [32]byte
	l.Read(func(s *State) { hash = s.Hash() })

	// Restore into a new ledger: same state and index.
	m := NewLedger()
	if err := m.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	m.Read(func(s *State) {
		if s.Hash() != hash || len(s.Nodes()) != 1 {
			t.Fatal("restored ledger differs")
		}
	})
	if m.Index() != 3 {
		t.Fatalf("restored index %d", m.Index())
	}
	if err := m.Restore(strings.NewReader("nope")); err == nil || m.Index() != 3 {
		t.Fatal("bad snapshot accepted or ledger changed")
	}

	// Concurrent reads while commands apply (run with -race).
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				l.Read(func(s *State) { _ = s.Files("", 10); _, _ = s.Totals() })
			}
		})
	}
	for i := range 200 {
		apply(uint64(10+i), Command{Time: t0.Add(time.Duration(i) * time.Second), Expire: &Expire{}})
	}
	wg.Wait()
}

// ApplyBatch gives exactly the results and the state of Apply on each
// command in turn, however the commands are cut in batches: among them
// attestations with a bad signature or a signer twice, a signer registered
// earlier in the same batch, receipts, undecodable commands, and indexes
// applied already, commands not signed by their proposer. ApplyQuiet on
// another member leaves the same state.
func TestApplyBatchMatchesApply(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	var cmds [][]byte
	enc := func(c Command) { cmds = append(cmds, f.encode(c)) }
	for _, c := range f.cmds {
		enc(c)
	}
	k6 := testKey(6)
	for i := range 48 {
		id := fmt.Sprintf("file-%d", i)
		q := f.newQuote(id, 1<<20, 86400)
		switch i % 8 {
		case 0: // quoted, paid, held by three
			enc(f.putQuote(q))
			enc(payCmd(id, "pay-"+id, PaymentSuccess, q.Price))
			h := &Hold{FileID: id}
			for _, p := range []int{0, 1, 2} {
				h.Receipts = append(h.Receipts, Receipt{FileID: id, CID: q.CID, Size: q.Size, Holder: peerName(p)}.Sign(testKey(p)))
			}
			enc(Command{Hold: h})
		case 1: // a bad signature
			pq := f.putQuote(q)
			pq.Quote.Attestations[1].Signature[3] ^= 1
			enc(pq)
		case 2: // peer-6 attests, registered just before the first time
			if i == 2 {
				enc(Command{Admit: admitCmd(6)})
				enc(Command{Register: &Register{Node: Node{PeerID: peerName(6), PublicKey: k6.Public().(ed25519.PublicKey)}}})
			}
			enc(Command{Quote: &PutQuote{Quote: q, Attestations: f.attest(q, 2, 3, 6)}})
		case 3:
			cmds = append(cmds, []byte("garbage"))
		case 4: // one signer twice
			pq := f.putQuote(q)
			pq.Quote.Attestations[2] = pq.Quote.Attestations[0]
			enc(pq)
		case 5: // the issuer's command signed by another member
			c, err := f.putQuote(q).Sign(peerName(0), testKey(1))
			if err != nil {
				t.Fatal(err)
			}
			enc(c)
		default:
			enc(f.putQuote(q))
		}
	}

	one := NewLedger()
	want := make([][]byte, len(cmds))
	var accepted, refused int
	for i, c := range cmds {
		want[i] = one.Apply(uint64(i+1), c)
		r, err := DecodeResult(want[i])
		if err != nil {
			t.Fatal(err)
		}
		if r.Err == nil {
			accepted++
		} else {
			refused++
		}
	}
	if accepted < 30 || refused < 15 {
		t.Fatalf("%d accepted, %d refused: the sequence does not test what it should", accepted, refused)
	}
	if r, _ := DecodeResult(want[len(f.cmds)+5]); r.Err != nil { // file-2's quote, by peer-6 among others
		t.Fatalf("the quote attested by a peer registered just before: %v", r.Err)
	}
	var wantHash [32]byte
	one.Read(func(s *State) { wantHash = s.Hash() })

	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 12 {
		l, quiet := NewLedger(), NewLedger()
		quietly := round >= 6
		for at := 0; at < len(cmds); {
			end := min(at+1+rng.IntN(4+round%6*8), len(cmds))
			indexes := make([]uint64, end-at)
			for j := range indexes {
				indexes[j] = uint64(at + j + 1)
			}
			for j, got := range l.ApplyBatch(indexes, cmds[at:end]) {
				if !bytes.Equal(got, want[at+j]) {
					t.Fatalf("round %d, command %d (batch %d..%d): ApplyBatch %s, Apply %s", round, at+j, at, end, got, want[at+j])
				}
			}
			if quietly {
				quiet.ApplyQuiet(indexes, cmds[at:end])
			}
			at = end
		}
		members := []*Ledger{l}
		if quietly {
			members = append(members, quiet)
		}
		var hash [32]byte
		for k, m := range members {
			m.Read(func(s *State) { hash = s.Hash() })
			if hash != wantHash || m.Index() != one.Index() {
				t.Fatalf("round %d, member %d: state or index differs from one-by-one", round, k)
			}
		}
		// The last two indexes again: both refused, nothing changes.
		n := uint64(len(cmds))
		for _, b := range l.ApplyBatch([]uint64{n - 1, n}, cmds[n-2:]) {
			if r, _ := DecodeResult(b); !errors.Is(r.Refusal(), ErrConflict) {
				t.Fatalf("round %d: an applied index again: %v", round, r.Err)
			}
		}
		l.Read(func(s *State) { hash = s.Hash() })
		if hash != wantHash {
			t.Fatalf("round %d: a replay changed the state", round)
		}
	}
}

// The commands of a group entry share its index: applied together in one
// call, they all take effect; the same entry again (a replay, even of the
// last one applied) is refused whole and changes nothing.
func TestApplyBatchGroups(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	l := NewLedger()
	var index uint64
	for _, c := range f.cmds { // init and registrations, one entry each
		b, _ := c.Encode()
		index++
		l.Apply(index, b)
	}
	group := func(ids ...string) [][]byte {
		var cmds [][]byte
		for _, id := range ids {
			b, err := signed(Command{Time: f.now, Quote: f.putQuote(f.newQuote(id, 1<<20, 86400)).Quote}).Encode()
			if err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, b)
		}
		return cmds
	}
	same := func(index uint64, n int) []uint64 {
		out := make([]uint64, n)
		for i := range out {
			out[i] = index
		}
		return out
	}
	check := func(res [][]byte, want error) {
		t.Helper()
		for i, b := range res {
			r, err := DecodeResult(b)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(r.Refusal(), want) {
				t.Fatalf("command %d: %v, want %v", i, r.Err, want)
			}
		}
	}
	g1, g2 := group("a", "b", "c"), group("d", "e")
	check(l.ApplyBatch(same(index+1, 3), g1), nil)
	// A lone command and a group in one call.
	check(l.ApplyBatch([]uint64{index + 2, index + 3, index + 3}, append(group("x"), g2...)), nil)
	var hash [32]byte
	l.Read(func(s *State) { hash = s.Hash() })
	if l.Index() != index+3 {
		t.Fatalf("index %d, want %d", l.Index(), index+3)
	}
	check(l.ApplyBatch(same(index+3, 2), g2), ErrConflict)
	check(l.ApplyBatch(same(index+1, 3), g1), ErrConflict)
	l.Read(func(s *State) {
		if s.Hash() != hash || s.FileCount() != 6 {
			t.Fatalf("a replayed group changed the state (%d files)", s.FileCount())
		}
	})
}

func TestCommandCodec(t *testing.T) {
	c := signed(Command{Time: t0, Pay: &Pay{PaymentID: "p", FileID: "f", Status: PaymentSuccess, Amount: 7, ReceivedBy: peerName(0)}})
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p0 := peerName(0)
	want := `{"command":{"time":"2026-11-01T10:00:00Z","by":"` + p0 + `","pay":{"payment_id":"p","file_id":"f","status":"success","amount":7,"received_by":"` + p0 + `"}},"sig":"` + base64.StdEncoding.EncodeToString(c.Sig) + `"}`
	if string(b) != want {
		t.Fatalf("encoded %s", b)
	}
	d, err := DecodeCommand(b)
	if err != nil || d.Kind() != "pay" || !reflect.DeepEqual(*d.Pay, *c.Pay) || !d.Time.Equal(t0) || d.By != p0 || !bytes.Equal(d.Sig, c.Sig) {
		t.Fatalf("decoded %+v, %v", d, err)
	}
	if !bytes.Equal(d.message(), c.message()) || !ed25519.Verify(testKey(0).Public().(ed25519.PublicKey), d.message(), d.Sig) {
		t.Fatal("the decoded command's signed bytes are not the signer's")
	}
	if _, err := (Command{Time: t0}).Encode(); err == nil {
		t.Fatal("encoded a command without a kind")
	}
	bad := []string{
		`{"command":{"time":"2026-11-01T10:00:00Z"}}`,
		`{"command":{"time":"2026-11-01T10:00:00Z","expire":{},"init":{"settings":{}}}}`,
		`{"command":{"expire":{}}}`,
		`{"command":{"time":"2026-11-01T10:00:00Z","expire":{},"other":1}}`,
		`{"command":{"time":"2026-11-01T10:00:00Z","pay":{"payment_id":"p","amount":1.5}}}`,
		`{"command":{"time":"2026-11-01T10:00:00Z","expire":{}}}x`,
		`{"command":{"time":"2026-11-01T10:00:00Z","expire":null}}`,
		`{"command":{"time":"2026-11-01T10:00:00Z","expire":{}},"sig":"AA==","by":"x"}`,
		`{"time":"2026-11-01T10:00:00Z","expire":{}}`,
		`{"command":null}`,
		`{}`,
		`[]`,
		``,
	}
	for _, s := range bad {
		if _, err := DecodeCommand([]byte(s)); err == nil {
			t.Errorf("decoded %s", s)
		}
	}
}

// BenchmarkApplyQuoteAndPay measures applying a new quote with 3
// attestations (3 ed25519 verifications) and its payment.
func BenchmarkApplyQuoteAndPay(b *testing.B) {
	f := newFixture(b, DefaultSettings())
	var cmds [][2]Command
	for i := range b.N {
		id := "bench" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + time.Duration(i).String()
		q := f.newQuote(id, 1<<20, 2592000)
		cmds = append(cmds, [2]Command{
			signed(Command{Time: f.now, Quote: f.putQuote(q).Quote}),
			signed(Command{Time: f.now, Pay: &Pay{PaymentID: "p" + id, FileID: id, Status: PaymentSuccess, Amount: q.Price, ReceivedBy: peerName(0)}}),
		})
	}
	b.ResetTimer()
	for i := range b.N {
		if r := f.s.Apply(cmds[i][0]); r.Err != nil {
			b.Fatal(r.Err)
		}
		if r := f.s.Apply(cmds[i][1]); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkLedgerApply measures the same through the Ledger, with JSON
// decoding and result encoding, as consensus calls it.
func BenchmarkLedgerApply(b *testing.B) {
	f := newFixture(b, DefaultSettings())
	l := NewLedger()
	var index uint64
	for _, c := range f.cmds {
		enc, _ := c.Encode()
		index++
		l.Apply(index, enc)
	}
	var cmds [][]byte
	for i := range b.N {
		id := "bench" + time.Duration(i).String()
		q := f.newQuote(id, 1<<20, 2592000)
		qc := f.encode(Command{Time: f.now, Quote: f.putQuote(q).Quote})
		pc := f.encode(Command{Time: f.now, Pay: &Pay{PaymentID: "p" + id, FileID: id, Status: PaymentSuccess, Amount: q.Price, ReceivedBy: peerName(0)}})
		cmds = append(cmds, qc, pc)
	}
	b.ResetTimer()
	for _, c := range cmds {
		index++
		if r, _ := DecodeResult(l.Apply(index, c)); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkMemberApply measures a member other than the leader applying a
// quote and its payment, checking every signature they carry (the
// proposers' and the 3 attestations) in one batch: with their results
// encoded (ApplyBatch) and without (ApplyQuiet, what a member no caller
// waits on does).
func BenchmarkMemberApply(b *testing.B) {
	for _, quiet := range []bool{false, true} {
		b.Run(map[bool]string{false: "results", true: "quiet"}[quiet], func(b *testing.B) {
			f := newFixture(b, DefaultSettings())
			member := NewLedger()
			var index uint64
			for _, c := range f.cmds {
				index++
				member.Apply(index, f.encode(c))
			}
			entries := make([][][]byte, b.N)
			for i := range entries {
				id := "bench" + time.Duration(i).String()
				q := f.newQuote(id, 1<<20, 2592000)
				entries[i] = [][]byte{
					f.encode(Command{Time: f.now, Quote: f.putQuote(q).Quote}),
					f.encode(Command{Time: f.now, Pay: &Pay{PaymentID: "p" + id, FileID: id, Status: PaymentSuccess, Amount: q.Price, ReceivedBy: peerName(0)}}),
				}
			}
			b.ResetTimer()
			for _, cmds := range entries {
				index++
				indexes := []uint64{index, index}
				if quiet {
					member.ApplyQuiet(indexes, cmds)
				} else if len(member.ApplyBatch(indexes, cmds)[1]) == 0 {
					b.Fatal("no result")
				}
			}
			b.StopTimer()
			member.Read(func(s *State) {
				if _, ok := s.Payment("pbench" + time.Duration(b.N-1).String()); !ok {
					b.Fatal("the last payment was not applied")
				}
			})
		})
	}
}

// restoredState is s written to a snapshot and read back: a replica that
// restored it.
func restoredState(t *testing.T, s *State) *State {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
