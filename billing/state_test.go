package billing

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestInitAndRegister(t *testing.T) {
	s := NewState()
	if _, ok := s.Settings(); ok {
		t.Fatal("settings before init")
	}
	bad := DefaultSettings()
	bad.Replicas = 0
	if r := s.Apply(signed(Command{Time: t0, Init: &Init{Settings: bad, Founder: peerName(0)}})); !errors.Is(r.Refusal(), ErrInvalid) {
		t.Fatalf("bad settings: %v", r.Err)
	}
	f := newFixture(t, DefaultSettings())
	if got, ok := f.s.Settings(); !ok || got != DefaultSettings() {
		t.Fatalf("settings %+v %v", got, ok)
	}
	f.refused(Command{Init: &Init{Settings: DevSettings(), Founder: peerName(0)}}, ErrConflict)

	key := testKey(0).Public().(ed25519.PublicKey)
	other := testKey(99).Public().(ed25519.PublicKey)
	// A node registers itself, with the key its peer id carries, signed
	// with it: no id, no such key or another key are refused.
	f.refused(Command{Register: &Register{Node: Node{PeerID: "", PublicKey: key}}}, ErrForbidden)
	f.refused(Command{Register: &Register{Node: Node{PeerID: "x", PublicKey: key[:31]}}}, ErrForbidden)
	f.refused(Command{Register: &Register{Node: Node{PeerID: peerName(0), PublicKey: other}}}, ErrForbidden)

	// Same key again: idempotent, keeps Joined, updates the HTTP address.
	joined := f.s.Nodes()[0].Joined
	f.advance(time.Hour)
	before := f.s.Nodes()
	f.must(Command{Register: &Register{Node: Node{PeerID: peerName(0), PublicKey: key}}})
	if !reflect.DeepEqual(f.s.Nodes(), before) {
		t.Fatal("re-register with the same key changed the registry")
	}
	f.must(Command{Register: &Register{Node: Node{PeerID: peerName(0), PublicKey: key, HTTP: "http://h:1"}}})
	n, ok := f.s.Node(peerName(0))
	if !ok || n.HTTP != "http://h:1" || !n.Joined.Equal(joined) {
		t.Fatalf("node %+v", n)
	}
	nodes := f.s.Nodes()
	if len(nodes) != testPeers || !slices.IsSortedFunc(nodes, func(a, b Node) int { return strings.Compare(a.PeerID, b.PeerID) }) {
		t.Fatalf("nodes %v", nodes)
	}
	nodes[0].PublicKey[0] ^= 1 // a copy: the registry is unchanged
	if n, _ := f.s.Node(nodes[0].PeerID); n.PublicKey[0] == nodes[0].PublicKey[0] {
		t.Fatal("Nodes returned the registry's key")
	}
	// Commands out of the accepted time range are refused.
	f.refused(Command{Time: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), Expire: &Expire{}}, ErrInvalid)
	f.refused(Command{Time: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Expire: &Expire{}}, ErrInvalid)
	f.refused(Command{Init: &Init{}, Expire: &Expire{}}, ErrInvalid)
	f.refused(Command{}, ErrInvalid)
}

func TestQuoteNew(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	q := f.upload("a", 1<<20, 2592000)
	file := f.file("a")
	if file.State != StateQuoted || file.Price != q.Price || file.Duration != q.Duration ||
		file.Quote == nil || !file.QuoteExpiresAt.Equal(q.ExpiresAt) || file.Issuer != peerName(0) ||
		!slices.Equal(file.AttestedBy, sorted(peerName(1), peerName(2), peerName(3))) ||
		!file.StoredAt.IsZero() || !file.ExpiresAt.IsZero() || file.Paid != 0 {
		t.Fatalf("quoted file %+v", file)
	}

	uninit := NewState()
	if r := uninit.Apply(signed(Command{Time: t0, Quote: &PutQuote{Quote: q}})); !errors.Is(r.Refusal(), ErrForbidden) {
		t.Fatalf("quote before init: %v", r.Err)
	}

	cases := []struct {
		name string
		mod  func(q *Quote)
		at   time.Duration // command time relative to the quote's creation
		want *Error
	}{
		{"duplicate id", func(q *Quote) { q.FileID = "a" }, 0, ErrConflict},
		{"price mismatch", func(q *Quote) { q.Price-- }, 0, ErrInvalid},
		{"at expiry", nil, 900 * time.Second, ErrQuoteExpired},
		{"after expiry", nil, time.Hour, ErrQuoteExpired},
		// (A quote created ahead of the ledger's clock: the ledger's time
		// never goes back, so a command stamped before its own creation
		// is one stamped before a quote made a moment ahead.)
		{"before creation", func(q *Quote) { q.CreatedAt, q.ExpiresAt = q.CreatedAt.Add(time.Hour), q.ExpiresAt.Add(time.Hour) }, -time.Second, ErrInvalid},
		{"unregistered issuer", func(q *Quote) { q.Issuer = "stranger" }, 0, ErrForbidden},
		{"empty name", func(q *Quote) { q.Name = "" }, 0, ErrInvalid},
		{"name of 256 bytes", func(q *Quote) { q.Name = strings.Repeat("x", 256) }, 0, ErrInvalid},
		{"negative size", func(q *Quote) { q.Size = -1 }, 0, ErrInvalid},
		{"zero duration", func(q *Quote) { q.Duration = 0 }, 0, ErrInvalid},
		{"over max term", func(q *Quote) { q.Duration = f.set.MaxTerm + 1 }, 0, ErrInvalid},
		{"wrong replicas", func(q *Quote) { q.Replicas = 1 }, 0, ErrInvalid},
		{"no file id", func(q *Quote) { q.FileID = "" }, 0, ErrInvalid},
		{"unknown kind", func(q *Quote) { q.Kind = "gift" }, 0, ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := f.newQuote("b", 1000, 3600)
			if tc.mod != nil {
				tc.mod(&q)
				if q.Kind == QuoteNew && tc.name != "price mismatch" {
					q.Price = Price(f.set, max(q.Size, 0), max(q.Duration, 0), q.Replicas)
				}
			}
			cmd := f.putQuote(q)
			cmd.Time = q.CreatedAt.Add(tc.at)
			f.refused(cmd, tc.want)
		})
	}

	t.Run("additional", func(t *testing.T) {
		q := f.newQuote("c", 10, 60)
		cmd := f.putQuote(q)
		cmd.Quote.Additional = map[string]json.RawMessage{"owner": json.RawMessage(` "alice" `), "gone": json.RawMessage("null")}
		res := f.must(cmd)
		if len(res.File.Additional) != 1 || string(res.File.Additional["owner"]) != `"alice"` {
			t.Fatalf("additional %v", res.File.Additional)
		}
		tooMany := map[string]json.RawMessage{}
		for i := range MaxAdditionalKeys + 1 {
			tooMany[fmt.Sprint(i)] = json.RawMessage("1")
		}
		cmd = f.putQuote(f.newQuote("d", 10, 60))
		cmd.Quote.Additional = tooMany
		f.refused(cmd, ErrInvalid)
		cmd.Quote.Additional = map[string]json.RawMessage{"big": json.RawMessage(`"` + strings.Repeat("x", MaxAdditionalBytes) + `"`)}
		f.refused(cmd, ErrInvalid)
		// Invalid JSON cannot even be signed (encoded).
		cmd.Quote.Additional = map[string]json.RawMessage{"bad": json.RawMessage(`{`)}
		f.refused(cmd, ErrForbidden)
	})
}

func TestAttestationForgery(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	other := f.newQuote("other", 5, 60)
	cases := []struct {
		name  string
		build func(q Quote) []Attestation
		mod   func(q *Quote) // applied after signing
		want  *Error
	}{
		{"valid", func(q Quote) []Attestation { return f.attest(q, 1, 2, 3) }, nil, nil},
		{"four signers", func(q Quote) []Attestation { return f.attest(q, 1, 2, 3, 4) }, nil, nil},
		{"bad signature", func(q Quote) []Attestation {
			a := f.attest(q, 1, 2, 3)
			a[1].Signature[0] ^= 0x80
			return a
		}, nil, ErrInvalid},
		{"truncated signature", func(q Quote) []Attestation {
			a := f.attest(q, 1, 2, 3)
			a[2].Signature = a[2].Signature[:10]
			return a
		}, nil, ErrInvalid},
		{"same signer twice", func(q Quote) []Attestation { return f.attest(q, 1, 2, 2) }, nil, ErrInvalid},
		{"same signer twice plus three valid", func(q Quote) []Attestation { return f.attest(q, 1, 2, 3, 3) }, nil, ErrInvalid},
		{"unregistered signer", func(q Quote) []Attestation {
			return append(f.attest(q, 1, 2), Attest(q, "stranger", testKey(50)))
		}, nil, ErrInvalid},
		{"registered name, wrong key", func(q Quote) []Attestation {
			return append(f.attest(q, 1, 2), Attest(q, peerName(3), testKey(50)))
		}, nil, ErrInvalid},
		{"issuer signs for itself", func(q Quote) []Attestation { return f.attest(q, 0, 1, 2) }, nil, ErrInvalid},
		{"issuer among four", func(q Quote) []Attestation { return f.attest(q, 0, 1, 2, 3) }, nil, ErrInvalid},
		{"price changed after signing", func(q Quote) []Attestation { return f.attest(q, 1, 2, 3) },
			func(q *Quote) { q.Price++ }, ErrInvalid},
		{"size and price changed consistently after signing", func(q Quote) []Attestation { return f.attest(q, 1, 2, 3) },
			func(q *Quote) { q.Size = GiB; q.Price = Price(f.set, GiB, q.Duration, q.Replicas) }, ErrInvalid},
		{"signature over another quote", func(q Quote) []Attestation {
			return append(f.attest(q, 1, 2), Attest(other, peerName(3), testKey(3)))
		}, nil, ErrInvalid},
		{"too few", func(q Quote) []Attestation { return f.attest(q, 1, 2) }, nil, ErrInvalid},
		{"none", func(q Quote) []Attestation { return nil }, nil, ErrInvalid},
		{"too many", func(q Quote) []Attestation {
			a := f.attest(q, 1, 2, 3)
			for len(a) <= MaxSigners {
				a = append(a, Attest(q, fmt.Sprint("extra", len(a)), testKey(len(a))))
			}
			return a
		}, nil, ErrInvalid},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := f.newQuote(fmt.Sprintf("f%d", i), 1000, 3600)
			atts := tc.build(q)
			if tc.mod != nil {
				tc.mod(&q)
			}
			cmd := Command{Quote: &PutQuote{Quote: q, Attestations: atts}}
			if tc.want == nil {
				f.must(cmd)
				return
			}
			f.refused(cmd, tc.want)
			if _, ok := f.s.File(q.FileID); ok {
				t.Fatal("refused quote recorded")
			}
		})
	}

	t.Run("dev self attestation", func(t *testing.T) {
		d := newFixture(t, DevSettings())
		q := d.newQuote("x", 10, 60)
		res := d.must(Command{Quote: &PutQuote{Quote: q, Attestations: d.attest(q, 0)}})
		if !slices.Equal(res.File.AttestedBy, []string{peerName(0)}) {
			t.Fatalf("attested by %v", res.File.AttestedBy)
		}
	})
}

func TestPay(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	q := f.upload("a", 4<<20, 2592000)

	f.refused(payCmd("nope", "p0", PaymentSuccess, q.Price), ErrNotFound)
	f.refused(payCmd("a", "p0", "maybe", q.Price), ErrInvalid)
	f.refused(payCmd("a", "", PaymentSuccess, q.Price), ErrInvalid)
	f.refused(payCmd("a", "p0", PaymentSuccess, -1), ErrInvalid)
	f.refused(payCmd("a", "p0", PaymentSuccess, q.Price-1), ErrAmountTooLow)

	f.advance(time.Minute)
	res := f.must(payCmd("a", "p1", PaymentSuccess, q.Price+5)) // overpaying is accepted
	file := res.File
	if file.State != StateStoring || !file.StoredAt.Equal(f.now) ||
		!file.ExpiresAt.Equal(f.now.Add(2592000*time.Second)) || file.Paid != q.Price+5 || file.Quote != nil || file.Price != q.Price {
		t.Fatalf("paid file %+v", file)
	}
	want := Payment{ID: "p1", FileID: "a", Status: PaymentSuccess, Amount: q.Price + 5, Kind: QuoteNew, At: f.now, ReceivedBy: peerName(0)}
	if got, ok := f.s.Payment("p1"); !ok || got != want || *res.Payment != want {
		t.Fatalf("payment %+v", got)
	}
	if paid, n := f.s.Totals(); paid != q.Price+5 || n != 1 {
		t.Fatalf("totals %d %d", paid, n)
	}

	f.refused(payCmd("a", "p1", PaymentSuccess, q.Price), ErrConflict)    // replay
	f.refused(payCmd("a", "p2", PaymentSuccess, q.Price), ErrAlreadyPaid) // new id, same file
	f.refused(payCmd("a", "p2", PaymentError, 0), ErrAlreadyPaid)

	t.Run("expired quote", func(t *testing.T) {
		q := f.upload("b", 10, 60)
		cmd := payCmd("b", "pb", PaymentSuccess, q.Price)
		cmd.Time = q.ExpiresAt
		f.refused(cmd, ErrQuoteExpired)
		// After the sweep dropped it, the answer is still quoteExpired.
		r := f.must(Command{Time: q.ExpiresAt, Expire: &Expire{}})
		if !slices.Equal(r.Dropped, []string{"b"}) || f.file("b").State != StateExpired {
			t.Fatalf("sweep %+v", r)
		}
		f.refused(cmd, ErrQuoteExpired)
		f.now = q.ExpiresAt // the ledger's time moved there
	})

	t.Run("error status cancels a new quote", func(t *testing.T) {
		q := f.upload("c", 10, 60)
		res := f.must(payCmd("c", "pc", PaymentError, 0))
		if res.File.State != StateCancelled || !slices.Equal(res.Dropped, []string{"c"}) ||
			res.Payment.Status != PaymentError || res.Payment.Kind != QuoteNew {
			t.Fatalf("cancel %+v", res)
		}
		f.refused(payCmd("c", "pc2", PaymentSuccess, q.Price), ErrConflict)
		if paid, n := f.s.Totals(); paid != f.file("a").Paid || n != 1 {
			t.Fatalf("an error payment counted: %d %d", paid, n)
		}
	})

	t.Run("amount overflow", func(t *testing.T) {
		f.upload("d", 10, 60)
		f.refused(payCmd("d", "pd", PaymentSuccess, 1<<63-1), ErrInvalid) // total would overflow
	})
}

func TestExtension(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	q := f.paid("a", GiB, 2592000)
	f.must(f.holdCmd("a", 1, 2, 3))
	start := f.file("a").StoredAt

	f.advance(24 * time.Hour)
	f.refused(f.putQuote(f.extQuote("a", 2592000)), ErrConflict) // same term
	short := f.extQuote("a", 1000)
	short.PrevDuration = 2592000
	f.refused(f.putQuote(short), ErrConflict) // shorter
	stale := f.extQuote("a", 3*2592000)
	stale.PrevDuration = 1000
	stale.Price = Price(f.set, stale.Size, stale.Duration-stale.PrevDuration, 3)
	f.refused(f.putQuote(stale), ErrConflict) // extends another term
	f.refused(f.putQuote(f.extQuote("a", f.set.MaxTerm+1)), ErrInvalid)
	wrong := f.extQuote("a", 2*2592000)
	wrong.Price = Price(f.set, wrong.Size, wrong.Duration, 3) // priced as the whole term
	f.refused(f.putQuote(wrong), ErrInvalid)
	renamed := f.extQuote("a", 2*2592000)
	renamed.Name = "other"
	f.refused(f.putQuote(renamed), ErrInvalid)

	ext := f.extQuote("a", 2*2592000)
	if ext.Price != q.Price {
		t.Fatalf("one more month costs %d, want %d", ext.Price, q.Price)
	}
	res := f.must(f.putQuote(ext))
	if res.File.State != StateExtensionQuoted || res.File.Price != ext.Price || res.File.Duration != 2592000 {
		t.Fatalf("extension quoted %+v", res.File)
	}
	f.refused(f.putQuote(f.extQuote("a", 3*2592000)), ErrConflict) // one open already

	// An error payment closes it; the file is stored again.
	res = f.must(payCmd("a", "e1", PaymentError, 0))
	if res.File.State != StateStored || res.File.Quote != nil || res.Dropped != nil || res.Payment.Kind != QuoteExtension {
		t.Fatalf("after error %+v", res)
	}
	f.refused(payCmd("a", "e2", PaymentSuccess, ext.Price), ErrConflict)

	// An expired extension quote is replaced by a new one, or swept.
	ext = f.extQuote("a", 2*2592000)
	f.must(f.putQuote(ext))
	f.advance(901 * time.Second)
	f.refused(payCmd("a", "e3", PaymentSuccess, ext.Price), ErrQuoteExpired)
	ext = f.extQuote("a", 2*2592000)
	f.must(f.putQuote(ext))
	f.advance(901 * time.Second)
	sw := f.must(Command{Expire: &Expire{}})
	if sw.Expired != nil || sw.Dropped != nil || f.file("a").State != StateStored {
		t.Fatalf("sweep of an extension quote %+v %+v", sw, f.file("a"))
	}
	f.refused(payCmd("a", "e3", PaymentSuccess, ext.Price), ErrQuoteExpired)

	// Paid: the term grows from the lease start.
	ext = f.extQuote("a", 2*2592000)
	f.must(f.putQuote(ext))
	res = f.must(payCmd("a", "e4", PaymentSuccess, ext.Price))
	file := res.File
	if file.State != StateStored || file.Duration != 2*2592000 || !file.StoredAt.Equal(start) ||
		!file.ExpiresAt.Equal(start.Add(2*2592000*time.Second)) || file.Paid != q.Price+ext.Price {
		t.Fatalf("extended %+v", file)
	}
	f.refused(payCmd("a", "e5", PaymentSuccess, ext.Price), ErrAlreadyPaid)

	t.Run("not paid", func(t *testing.T) {
		f.upload("b", 10, 60)
		e := f.newQuote("b", 10, 120)
		e.Kind, e.PrevDuration = QuoteExtension, 60
		e.Price = Price(f.set, 10, 60, 3)
		f.refused(f.putQuote(e), ErrConflict)
		e.FileID = "zzz"
		f.refused(f.putQuote(e), ErrNotFound)
	})

	t.Run("term ended", func(t *testing.T) {
		f.now = f.file("a").ExpiresAt
		f.refused(f.putQuote(f.extQuote("a", 3*2592000)), ErrGone)
		f.must(Command{Expire: &Expire{}})
		f.refused(f.putQuote(f.extQuote("a", 3*2592000)), ErrGone)
	})
}

func TestUpdate(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	f.upload("a", 10, 60)
	upd := func(id string, kv ...string) Command {
		m := map[string]json.RawMessage{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = json.RawMessage(kv[i+1])
		}
		return Command{Update: &Update{FileID: id, Additional: m}}
	}
	res := f.must(upd("a", "owner", `"alice"`, "tags", `[1, 2]`))
	if string(res.File.Additional["tags"]) != `[1,2]` || len(res.File.Additional) != 2 {
		t.Fatalf("additional %s", res.File.Additional)
	}
	res = f.must(upd("a", "owner", `"bob"`, "tags", "null"))
	if len(res.File.Additional) != 1 || string(res.File.Additional["owner"]) != `"bob"` {
		t.Fatalf("additional %s", res.File.Additional)
	}
	f.refused(upd("nope", "x", "1"), ErrNotFound)
	// Invalid JSON cannot even be signed (encoded): no proposer stands for it.
	f.refused(upd("a", "x", "{"), ErrForbidden)
	var kv []string
	for i := range MaxAdditionalKeys {
		kv = append(kv, fmt.Sprint("k", i), "1")
	}
	f.refused(upd("a", kv...), ErrInvalid) // 64 new + owner = 65
	f.must(upd("a", kv[2:]...))            // 63 + owner = 64
	f.refused(upd("a", "big", `"`+strings.Repeat("y", MaxAdditionalBytes)+`"`), ErrInvalid)

	// A returned file is a copy.
	res.File.Additional["owner"][1] = 'X'
	if string(f.file("a").Additional["owner"]) != `"bob"` {
		t.Fatal("File returned the ledger's map")
	}

	f.must(payCmd("a", "p", PaymentError, 0))
	f.refused(upd("a", "x", "1"), ErrConflict) // cancelled
	f.upload("b", 10, 60)
	f.advance(time.Hour)
	f.must(Command{Expire: &Expire{}})
	f.refused(upd("b", "x", "1"), ErrGone) // never paid, expired
	f.paid("c", 10, 60)
	f.advance(time.Minute)
	f.refused(upd("c", "x", "1"), ErrGone) // term ended, not yet swept
}

func TestHold(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	f.upload("q", 10, 3600)
	f.refused(f.holdCmd("q", 1), ErrConflict) // not paid
	f.paid("a", 10, 3600)
	f.refused(Command{Hold: &Hold{FileID: "nope"}}, ErrNotFound)
	f.refused(Command{Hold: &Hold{FileID: "a"}}, ErrInvalid)

	bad := f.receipt("a", 1)
	bad.Signature[3] ^= 1
	f.refused(Command{Hold: &Hold{FileID: "a", Receipts: []Receipt{bad}}}, ErrInvalid)
	wrongCID := f.receipt("a", 1)
	wrongCID.CID = "bafy-other"
	wrongCID = wrongCID.Sign(testKey(1))
	f.refused(Command{Hold: &Hold{FileID: "a", Receipts: []Receipt{wrongCID}}}, ErrInvalid)
	stranger := Receipt{FileID: "a", CID: "bafy-a", Size: 10, Holder: "stranger"}.Sign(testKey(77))
	f.refused(Command{Hold: &Hold{FileID: "a", Receipts: []Receipt{stranger}}}, ErrInvalid)
	forged := Receipt{FileID: "a", CID: "bafy-a", Size: 10, Holder: peerName(2)}.Sign(testKey(1))
	f.refused(Command{Hold: &Hold{FileID: "a", Receipts: []Receipt{forged}}}, ErrInvalid)
	f.refused(f.holdCmd("a", 1, 1), ErrInvalid)
	f.refused(f.holdCmd("a", 1, 2, 3, 4), ErrInvalid) // more receipts than replicas

	res := f.must(f.holdCmd("a", 1, 2))
	if res.File.State != StateStoring || !slices.Equal(res.File.Holders, []string{peerName(1), peerName(2)}) {
		t.Fatalf("two holders %+v", res.File)
	}
	before := f.s.Hash()
	f.must(f.holdCmd("a", 2)) // a retried receipt is a no-op
	if f.s.Hash() != before {
		t.Fatal("retried receipt changed the state")
	}
	f.refused(f.holdCmd("a", 3, 4), ErrConflict)
	res = f.must(f.holdCmd("a", 2, 3))
	if res.File.State != StateStored || len(res.File.Holders) != 3 {
		t.Fatalf("three holders %+v", res.File)
	}

	t.Run("during an extension quote", func(t *testing.T) {
		f.paid("b", 10, 3600)
		f.must(f.putQuote(f.extQuote("b", 7200)))
		res := f.must(f.holdCmd("b", 1, 2, 3))
		if res.File.State != StateExtensionQuoted {
			t.Fatalf("state %s", res.File.State)
		}
		res = f.must(payCmd("b", "pb2", PaymentSuccess, res.File.Price))
		if res.File.State != StateStored {
			t.Fatalf("state %s", res.File.State)
		}
	})

	t.Run("after the term", func(t *testing.T) {
		f.paid("c", 10, 60)
		f.advance(time.Minute)
		f.refused(f.holdCmd("c", 1), ErrGone)
		f.must(Command{Expire: &Expire{}})
		f.refused(f.holdCmd("c", 1), ErrGone)
	})
}

func TestExpire(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	f.paid("lease", 10, 3600)
	f.must(f.holdCmd("lease", 1, 2, 3))
	f.paid("storing", 10, 3600)
	f.must(f.holdCmd("storing", 1))
	f.paid("long", 10, 7200)
	f.upload("unpaid", 10, 60)
	f.paid("ext", 10, 3600)
	f.advance(3000 * time.Second)
	f.must(f.putQuote(f.extQuote("ext", 7200))) // open when its lease ends
	f.upload("late", 10, 60)                    // quote open until 3900 s

	f.advance(600 * time.Second) // 3600 s: leases of an hour end
	res := f.must(Command{Expire: &Expire{}})
	if !slices.Equal(res.Expired, []string{"lease", "storing", "ext"}) || !slices.Equal(res.Dropped, []string{"unpaid"}) {
		t.Fatalf("sweep %+v", res)
	}
	for id, want := range map[string]FileState{"lease": StateExpired, "storing": StateExpired, "long": StateStoring,
		"unpaid": StateExpired, "ext": StateExpired, "late": StateQuoted} {
		if got := f.file(id).State; got != want {
			t.Errorf("%s: state %s, want %s", id, got, want)
		}
	}
	if e := f.file("ext"); e.Quote != nil || e.Duration != 3600 || e.Price != Price(f.set, 10, 3600, 3) {
		t.Fatalf("ext after expiry %+v", e)
	}
	if u := f.file("unpaid"); u.Leased() || u.Quote != nil {
		t.Fatalf("unpaid after expiry %+v", u)
	}
	before := f.s.Hash()
	if res := f.must(Command{Expire: &Expire{}}); res.Expired != nil || res.Dropped != nil || f.s.Hash() != before {
		t.Fatalf("second sweep not idempotent: %+v", res)
	}
	f.refused(payCmd("ext", "px", PaymentSuccess, 1<<40), ErrQuoteExpired)
	f.refused(payCmd("lease", "py", PaymentSuccess, 1<<40), ErrAlreadyPaid)
}

func TestFilesPagination(t *testing.T) {
	f := newFixture(t, DevSettings())
	// Ids out of alphabetical order, some at the same instant, one issued
	// with an earlier clock than the one before: creation order wins.
	ids := []string{"m", "c", "x", "a", "b"}
	times := []time.Duration{0, 0, time.Second, 500 * time.Millisecond, 2 * time.Second}
	for i, id := range ids {
		q := f.newQuote(id, 1, 60)
		q.CreatedAt = t0.Add(times[i])
		q.ExpiresAt = q.CreatedAt.Add(900 * time.Second)
		cmd := f.putQuote(q)
		cmd.Time = q.CreatedAt
		f.must(cmd)
	}
	var got []string
	after := ""
	for {
		page := f.s.Files(after, 2)
		if len(page) == 0 {
			break
		}
		for _, file := range page {
			got = append(got, file.ID)
		}
		after = page[len(page)-1].ID
		if len(got) <= 6 {
			f.upload(fmt.Sprint("new", len(got)), 1, 60) // new files go to the end
		}
	}
	all := f.s.Files("", 0)
	if !slices.Equal(got[:5], ids) || len(all) != f.s.FileCount() || len(got) != len(all) {
		t.Fatalf("pages %v, all %d", got, len(all))
	}
	for i := 1; i < len(all); i++ {
		if !all[i].CreatedAt.After(all[i-1].CreatedAt) {
			t.Fatalf("CreatedAt does not increase at %d", i)
		}
	}
	if f.s.Files("unknown", 10) != nil {
		t.Fatal("unknown cursor gave files")
	}
	for i, want := range all {
		if got, ok := f.s.FileAt(i); !ok || got.ID != want.ID {
			t.Fatalf("FileAt(%d) = %s, %v; want %s", i, got.ID, ok, want.ID)
		}
	}
	for _, i := range []int{-1, len(all)} {
		if _, ok := f.s.FileAt(i); ok {
			t.Fatalf("FileAt(%d) found a file of %d", i, len(all))
		}
	}
}

func TestDueAndStoring(t *testing.T) {
	set := DefaultSettings()
	set.Replicas = 2
	f := newFixture(t, set)
	if f.s.Due(f.now) {
		t.Fatal("empty ledger is due")
	}
	q := f.upload("a", 100, 3600)
	if f.s.Due(f.now) || !f.s.Due(q.ExpiresAt) {
		t.Fatal("open quote: due before its expiry or not at it")
	}
	f.must(payCmd("a", "p1", PaymentSuccess, q.Price))
	if got := f.s.Storing(peerName(0)); len(got) != 1 || got[0] != "a" {
		t.Fatalf("Storing = %v, want [a]", got)
	}
	if got := f.s.Storing(peerName(1)); len(got) != 0 {
		t.Fatalf("Storing of another issuer = %v", got)
	}
	f.must(f.holdCmd("a", 0, 1))
	if got := f.s.Storing(peerName(0)); len(got) != 0 {
		t.Fatalf("Storing after all holders = %v", got)
	}
	lease := f.file("a")
	if f.s.Due(lease.ExpiresAt.Add(-time.Nanosecond)) || !f.s.Due(lease.ExpiresAt) {
		t.Fatal("lease: due before its end or not at it")
	}
	f.now = lease.ExpiresAt
	f.must(Command{Expire: &Expire{}})
	if f.s.Due(f.now.Add(time.Hour)) {
		t.Fatal("due after the sweep")
	}
}

func TestDropAndReplaceHolder(t *testing.T) {
	set := DefaultSettings()
	set.Replicas = 2
	f := newFixture(t, set)
	q := f.paid("a", 1<<20, 10*86400)
	f.must(f.holdCmd("a", 0, 1))
	if st := f.file("a").State; st != StateStored {
		t.Fatalf("state %s", st)
	}
	f.refused(f.dropCmd("a", 2, 0, 3), ErrConflict)
	f.refused(f.dropCmd("nope", 1, 0, 3), ErrNotFound)
	f.advance(5 * 86400 * time.Second)
	f.must(f.dropCmd("a", 1, 0, 3))
	got := f.file("a")
	if got.State != StateStoring || len(got.Holders) != 1 || got.Holders[0] != peerName(0) {
		t.Fatalf("after drop: %s %v", got.State, got.Holders)
	}
	// A third holder's receipt completes it again.
	f.must(f.holdCmd("a", 2))
	if got := f.file("a"); got.State != StateStored || len(got.Holders) != 2 {
		t.Fatalf("after replace: %s %v", got.State, got.Holders)
	}
	// The dropped holder is paid for the days it held the file, the new one
	// for the rest: together with holder 0 the shares sum to the price.
	from, to := t0, t0.Add(20*86400*time.Second)
	sum := int64(0)
	for i := range 3 {
		sum += f.s.LocalReport(peerName(i), from, to).Amount
	}
	if d := q.Price - sum; d < 0 || d > 3 {
		t.Fatalf("shares sum to %d, paid %d", sum, q.Price)
	}
	if r1 := f.s.LocalReport(peerName(1), from, to).Amount; r1 < q.Price/4-2 || r1 > q.Price/4+2 {
		t.Fatalf("the dropped holder's share %d, want about a quarter of %d", r1, q.Price)
	}
}

// sorted returns names sorted (the ledger lists signers in order).
func sorted(names ...string) []string {
	slices.Sort(names)
	return names
}
