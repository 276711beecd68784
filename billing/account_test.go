package billing

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"
)

// testAccount opens account id with a new API key, credits it with
// balance (when not zero) and returns the key.
func (f *fixture) testAccount(id string, balance int64) string {
	f.t.Helper()
	key, err := NewAPIKey()
	if err != nil {
		f.t.Fatal(err)
	}
	f.must(Command{Open: &OpenAccount{AccountID: id, Name: id, PublicKey: AccountPublicKey(key)}})
	if balance > 0 {
		f.must(creditCmd(id, "credit-"+id, balance, nil))
	}
	return key
}

func creditCmd(account, paymentID string, amount int64, sig []byte) Command {
	return Command{Pay: &Pay{PaymentID: paymentID, AccountID: account, Status: PaymentSuccess, Amount: amount, ReceivedBy: peerName(0), ProcessorSig: sig}}
}

// ownedQuote is the command that records a new quote for id owned by
// account (with the consent made with key).
func (f *fixture) ownedQuote(id, account, key string, private bool, size, duration int64) (Command, Quote) {
	q := f.newQuote(id, size, duration)
	c := f.putQuote(q)
	c.Quote.Owner = Consent(account, key, OwnMessage(account, id, private))
	c.Quote.Private = private
	return c, q
}

// balancePay is the payment of file id's quote (price) from account's
// balance, as paymentID.
func balancePay(id, paymentID, account, key string, price int64) Command {
	return Command{Pay: &Pay{PaymentID: paymentID, FileID: id, Status: PaymentSuccess, Amount: price, ReceivedBy: peerName(0),
		From: Consent(account, key, PayMessage(account, paymentID, id, price))}}
}

func (f *fixture) balance(account string) int64 {
	f.t.Helper()
	a, ok := f.s.Account(account)
	if !ok {
		f.t.Fatalf("no account %s", account)
	}
	return a.Balance
}

func TestOpenAccount(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	key := f.testAccount("alice", 0)
	a, ok := f.s.AccountByKey(AccountPublicKey(key))
	if !ok || a.ID != "alice" || a.Balance != 0 || a.OpenedBy != peerName(0) {
		t.Fatalf("account by key: %+v %v", a, ok)
	}
	if _, ok := f.s.AccountByKey(AccountPublicKey(key + "x")); ok {
		t.Fatal("another key finds the account")
	}
	f.refused(Command{Open: &OpenAccount{AccountID: "alice", Name: "again", PublicKey: AccountPublicKey("k2")}}, ErrConflict)
	f.refused(Command{Open: &OpenAccount{AccountID: "bob", Name: "bob", PublicKey: AccountPublicKey(key)}}, ErrConflict)
	f.refused(Command{Open: &OpenAccount{AccountID: "bob", Name: "", PublicKey: AccountPublicKey("k3")}}, ErrInvalid)
	f.refused(Command{Open: &OpenAccount{AccountID: "bob", Name: "b\nob", PublicKey: AccountPublicKey("k3")}}, ErrInvalid)
	f.refused(Command{Open: &OpenAccount{AccountID: "bob", Name: "bob", PublicKey: []byte("short")}}, ErrInvalid)
	// Only a member opens accounts.
	outsider := Command{Open: &OpenAccount{AccountID: "eve", Name: "eve", PublicKey: AccountPublicKey("k4")}}
	s, err := outsider.Sign("outsider", testKey(77))
	if err != nil {
		t.Fatal(err)
	}
	f.refused(s, ErrForbidden)
}

func TestCreditAccount(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	f.testAccount("alice", 0)
	res := f.must(creditCmd("alice", "c1", 5000, nil))
	if res.Payment == nil || res.Payment.AccountID != "alice" || res.Payment.Kind != KindCredit || f.balance("alice") != 5000 {
		t.Fatalf("credit: %+v, balance %d", res.Payment, f.balance("alice"))
	}
	f.refused(creditCmd("alice", "c1", 5000, nil), ErrConflict) // the same payment again
	f.refused(creditCmd("nobody", "c2", 5000, nil), ErrNotFound)
	bad := creditCmd("alice", "c3", 5000, nil)
	bad.Pay.FileID = "x"
	f.refused(bad, ErrInvalid)
	bad = creditCmd("alice", "c4", 5000, nil)
	bad.Pay.Status = PaymentError
	f.refused(bad, ErrInvalid)
	if paid, _ := f.s.Totals(); paid != 5000 {
		t.Fatalf("totals %d", paid)
	}
}

// With a processor key, a member cannot mint a balance: a credit needs
// the processor's signature for that account's next credit, and one
// signature credits once.
func TestCreditNeedsProcessor(t *testing.T) {
	processor := testKey(500)
	f := newFixture(t, DefaultSettings(), func(i *Init) { i.ProcessorKey = processor.Public().(ed25519.PublicKey) })
	f.testAccount("alice", 0)
	f.testAccount("bob", 0)
	good := CreditAuthorization{AccountID: "alice", Amount: 700, Seq: 0}.Sign(processor)
	f.refused(creditCmd("alice", "c0", 700, nil), ErrForbidden)
	f.refused(creditCmd("alice", "c0", 701, good), ErrForbidden)
	f.refused(creditCmd("bob", "c0", 700, good), ErrForbidden)
	f.refused(creditCmd("alice", "c0", 700, CreditAuthorization{AccountID: "alice", Amount: 700, Seq: 0}.Sign(testKey(0))), ErrForbidden)
	f.must(creditCmd("alice", "c1", 700, good))
	f.refused(creditCmd("alice", "c2", 700, good), ErrForbidden) // replayed with a new payment id
	f.must(creditCmd("alice", "c3", 700, CreditAuthorization{AccountID: "alice", Amount: 700, Seq: 1}.Sign(processor)))
	if f.balance("alice") != 1400 || f.balance("bob") != 0 {
		t.Fatalf("balances %d %d", f.balance("alice"), f.balance("bob"))
	}
}

func TestOwnedUpload(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 0)
	bob := f.testAccount("bob", 0)

	c, _ := f.ownedQuote("a", "alice", alice, true, 100, 86400)
	f.must(c)
	if file := f.file("a"); file.Owner != "alice" || !file.Private {
		t.Fatalf("owner %q private %v", file.Owner, file.Private)
	}
	// Bob's key cannot make Alice own a file, nor can a consent for
	// another file, another privacy or another account.
	c, _ = f.ownedQuote("b", "alice", bob, false, 100, 86400)
	f.refused(c, ErrForbidden)
	c, _ = f.ownedQuote("b", "alice", alice, false, 100, 86400)
	c.Quote.Owner = Consent("alice", alice, OwnMessage("alice", "other", false))
	f.refused(c, ErrForbidden)
	c, _ = f.ownedQuote("b", "alice", alice, false, 100, 86400)
	c.Quote.Private = true
	f.refused(c, ErrForbidden)
	c, _ = f.ownedQuote("b", "carol", alice, false, 100, 86400)
	f.refused(c, ErrNotFound)
	q := f.newQuote("b", 100, 86400)
	c = f.putQuote(q)
	c.Quote.Private = true
	f.refused(c, ErrInvalid) // private with no owner
}

// A quote paid from a balance is debited exactly once: a retried or
// replayed payment finds the quote paid; a balance never goes below zero.
func TestPayFromBalance(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 0)
	bob := f.testAccount("bob", 0)
	c, q := f.ownedQuote("a", "alice", alice, false, 1<<30, 30*86400)
	f.must(c)

	f.refused(balancePay("a", "p1", "alice", alice, q.Price), ErrPaymentRequired) // empty balance
	f.must(creditCmd("alice", "c1", q.Price+10, nil))
	f.refused(balancePay("a", "p1", "alice", bob, q.Price), ErrForbidden)   // bob's key
	f.refused(balancePay("a", "p1", "alice", alice, q.Price-1), ErrInvalid) // not the price
	f.refused(balancePay("a", "p1", "alice", alice, q.Price+1), ErrInvalid) // nor more
	forged := balancePay("a", "p1", "alice", alice, q.Price)                // consent for another payment id
	forged.Pay.PaymentID = "p9"
	f.refused(forged, ErrForbidden)
	res := f.must(balancePay("a", "p1", "alice", alice, q.Price))
	if res.Payment.FromAccount != "alice" || res.File.State != StateStoring || f.balance("alice") != 10 {
		t.Fatalf("paid: %+v %s balance %d", res.Payment, res.File.State, f.balance("alice"))
	}
	f.refused(balancePay("a", "p1", "alice", alice, q.Price), ErrConflict)    // the same payment again
	f.refused(balancePay("a", "p2", "alice", alice, q.Price), ErrAlreadyPaid) // a retry with a new id
	if f.balance("alice") != 10 {
		t.Fatalf("balance %d after retries", f.balance("alice"))
	}
	// A processor's payment is still counted in the totals, a balance's
	// once (when credited).
	if paid, n := f.s.Totals(); paid != q.Price+10 || n != 2 {
		t.Fatalf("totals %d %d", paid, n)
	}
	// Bob pays for a file of Alice's only with his own consent, and not
	// below zero.
	c, q2 := f.ownedQuote("b", "alice", alice, false, 1<<30, 30*86400)
	f.must(c)
	f.refused(balancePay("b", "p3", "alice", alice, q2.Price), ErrPaymentRequired)
	f.refused(balancePay("b", "p3", "bob", bob, q2.Price), ErrPaymentRequired)
	if f.balance("alice") != 10 || f.balance("bob") != 0 {
		t.Fatal("a refused payment moved a balance")
	}
}

func TestOwnerUpdates(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 0)
	bob := f.testAccount("bob", 0)
	c, _ := f.ownedQuote("a", "alice", alice, false, 100, 86400)
	f.must(c)
	patch := map[string]json.RawMessage{"k": json.RawMessage(`"v"`)}
	upd := func(account, key string, rev int64, p map[string]json.RawMessage) Command {
		return Command{Update: &Update{FileID: "a", Additional: p, Rev: rev, Auth: Consent(account, key, UpdateMessage(account, "a", rev, p))}}
	}
	f.refused(Command{Update: &Update{FileID: "a", Additional: patch}}, ErrForbidden)
	f.refused(upd("bob", bob, 0, patch), ErrForbidden)
	f.refused(upd("alice", bob, 0, patch), ErrForbidden)
	f.refused(upd("alice", alice, 1, patch), ErrConflict)
	signedFor := upd("alice", alice, 0, patch) // consent to another patch
	signedFor.Update.Additional = map[string]json.RawMessage{"k": json.RawMessage(`"w"`)}
	f.refused(signedFor, ErrForbidden)
	good := upd("alice", alice, 0, patch)
	res := f.must(good)
	if res.File.Rev != 1 || string(res.File.Additional["k"]) != `"v"` {
		t.Fatalf("update: rev %d %s", res.File.Rev, res.File.Additional["k"])
	}
	f.must(upd("alice", alice, 1, map[string]json.RawMessage{"k": json.RawMessage(`null`)}))
	// The first consent, seen in the log, does not set "v" again.
	f.advance(time.Second)
	f.refused(upd("alice", alice, 0, patch), ErrConflict)
	if _, ok := f.file("a").Additional["k"]; ok {
		t.Fatal("a replayed update applied")
	}
}

// A delete ends the lease at once, ends the holdings, gives the unused
// whole days of what the balance paid back, and stays final.
func TestDeleteFile(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 1<<50)
	bob := f.testAccount("bob", 0)
	const size, term = 1 << 30, 30 * 86400
	c, q := f.ownedQuote("a", "alice", alice, false, size, term)
	f.must(c)
	f.must(balancePay("a", "p1", "alice", alice, q.Price))
	f.must(f.holdCmd("a", 1, 2, 3))
	before := f.balance("alice")
	f.advance(10*24*time.Hour + time.Hour) // 19 whole days and 23 hours left

	del := func(account, key string) Command {
		return Command{Delete: &Delete{FileID: "a", Auth: *Consent(account, key, DeleteMessage(account, "a"))}}
	}
	f.refused(del("bob", bob), ErrForbidden)
	f.refused(del("alice", bob), ErrForbidden)
	res := f.must(del("alice", alice))
	if res.File.State != StateDeleted || len(res.Expired) != 1 || res.Expired[0] != "a" || !res.File.ExpiresAt.Equal(f.now) {
		t.Fatalf("delete: %+v", res)
	}
	back := f.balance("alice") - before
	want := q.Price * 19 / 30
	if back < want-1 || back > want {
		t.Fatalf("refund %d, want about %d (19 of 30 days of %d)", back, want, q.Price)
	}
	f.refused(del("alice", alice), ErrGone)
	f.refused(f.putQuote(f.extQuote("a", 2*term)), ErrGone)
	f.refused(f.holdCmd("a", 4), ErrGone)
	// The holders are paid for the time they held it, and no more: what
	// was refunded is nobody's.
	rep := f.s.LocalReport(peerName(1), f.now.Add(-20*24*time.Hour), f.now.Add(30*24*time.Hour))
	if total := rep.Amount * 3; total > q.Price-back || total < (q.Price-back)*9/10 {
		t.Fatalf("holder's share %d (x3 = %d), paid %d, refunded %d", rep.Amount, total, q.Price, back)
	}
	// The tombstone goes after its retention, and with it the listing.
	f.advance(time.Duration(f.set.TombstoneRetention+1) * time.Second)
	f.must(Command{Expire: &Expire{}})
	if _, ok := f.s.File("a"); ok {
		t.Fatal("the deleted file is still known")
	}
	if files, _ := f.s.AccountPage("alice", "", 0, ""); len(files) != 0 {
		t.Fatalf("listing keeps %d forgotten files", len(files))
	}
	r := restoredState(t, f.s)
	if r.Hash() != f.s.Hash() {
		t.Fatal("restored state differs")
	}
}

func TestDeleteUnpaidAndUnowned(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 0)
	c, _ := f.ownedQuote("a", "alice", alice, false, 100, 86400)
	f.must(c)
	res := f.must(Command{Delete: &Delete{FileID: "a", Auth: *Consent("alice", alice, DeleteMessage("alice", "a"))}})
	if len(res.Dropped) != 1 || res.File.State != StateDeleted {
		t.Fatalf("delete unpaid: %+v", res)
	}
	f.refused(payCmd("a", "p", PaymentSuccess, 1<<40), ErrConflict)
	f.upload("b", 100, 86400)
	f.refused(Command{Delete: &Delete{FileID: "b", Auth: *Consent("alice", alice, DeleteMessage("alice", "b"))}}, ErrForbidden)
}

func TestAccountPage(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 1<<50)
	bob := f.testAccount("bob", 0)
	var mine []string
	for i := range 7 {
		id := string(rune('a' + i))
		if i%2 == 0 {
			c, q := f.ownedQuote(id, "alice", alice, false, 100, 86400)
			f.must(c)
			if i%4 == 0 {
				f.must(balancePay(id, "p"+id, "alice", alice, q.Price))
			}
			mine = append(mine, id)
		} else {
			c, _ := f.ownedQuote(id, "bob", bob, false, 100, 86400)
			f.must(c)
		}
		f.advance(time.Millisecond)
	}
	var got []string
	after := ""
	for {
		page, ok := f.s.AccountPage("alice", after, 2, "")
		if !ok {
			t.Fatal("cursor refused")
		}
		if len(page) == 0 {
			break
		}
		for _, file := range page {
			got = append(got, file.ID)
		}
		after = FileCursor(page[len(page)-1])
	}
	if len(got) != len(mine) || got[0] != mine[0] || got[len(got)-1] != mine[len(mine)-1] {
		t.Fatalf("alice's files %v, want %v", got, mine)
	}
	storing, _ := f.s.AccountPage("alice", "", 0, StateStoring)
	if len(storing) != 2 || storing[0].ID != "a" || storing[1].ID != "e" {
		t.Fatalf("storing: %v", storing)
	}
	if n, stored := f.s.AccountUsage("alice"); n != 4 || stored != 200 {
		t.Fatalf("usage %d files %d bytes", n, stored)
	}
	if _, ok := f.s.AccountPage("alice", "b", 2, ""); ok {
		t.Fatal("a cursor at bob's file accepted")
	}
}
