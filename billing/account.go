package billing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// Accounts (spec/api.md, "Accounts"). An account is opened by a member for
// the payment processor's customer; it owns files, pays for them from a
// prepaid balance, and consents to what is done with them.
//
// The user holds an API key; the ledger never sees it. What it keeps is the
// public half of an ed25519 key derived from the API key (AccountKey): a
// one-way function of the key, so the ledger (every replica, every log
// entry) lets nobody act for the account. A node that is given the key
// derives the private half and signs the account's consent (AccountAuth)
// to the one command it proposes; every replica checks that signature. So
// a member that was never given an account's key cannot spend its balance,
// claim its files or delete them, whatever it proposes. A member the user
// gave the key to can, as long as it has the key: as with any API key.
//
// Every consent names what makes it single-use, so that one seen in the
// log cannot be replayed: an upload's file id (a quote of a new id), a
// payment's id, a file's revision (updates), or the file itself (deletes:
// a deleted file stays deleted).

// accountDomain opens every message an account's key signs.
const accountDomain = "dds-account-v1"

// apiKeyPrefix marks an account's API key, so that a key pasted in the
// wrong place is recognisable.
const apiKeyPrefix = "dds_"

// NewAPIKey returns a new account API key: 256 random bits.
func NewAPIKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new api key: %w", err)
	}
	return apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// AccountKey returns the signing key derived from an account's API key.
func AccountKey(apiKey string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(accountDomain + "\nkey\n" + apiKey))
	return ed25519.NewKeyFromSeed(seed[:])
}

// AccountPublicKey returns the public key the ledger keeps for apiKey.
func AccountPublicKey(apiKey string) []byte {
	return AccountKey(apiKey).Public().(ed25519.PublicKey)
}

// Account is an account as the ledger keeps it.
type Account struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	PublicKey []byte    `json:"public_key"` // of AccountKey(api key)
	Balance   int64     `json:"balance"`    // nanotokens, never below zero
	Credits   int64     `json:"credits"`    // credits applied so far: the next credit's sequence number
	OpenedAt  time.Time `json:"opened_at"`
	OpenedBy  string    `json:"opened_by"` // the member that opened it
}

// MaxAccountName bounds an account's name.
const MaxAccountName = 255

// OpenAccount opens an account with a zero balance.
type OpenAccount struct {
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
	PublicKey []byte `json:"public_key"`
}

// AccountAuth is an account's consent to one command: the signature, with
// the key derived from the account's API key, of the command's consent
// message (OwnMessage, PayMessage, UpdateMessage, DeleteMessage).
type AccountAuth struct {
	Account string `json:"account"`
	Sig     []byte `json:"sig"`
}

// Consent signs msg for account with the key derived from apiKey.
func Consent(account, apiKey string, msg []byte) *AccountAuth {
	return &AccountAuth{Account: account, Sig: ed25519.Sign(AccountKey(apiKey), msg)}
}

// Delete ends a file's lease now, with its owner's consent: holders let
// their copies go, unused whole days of what the balance paid go back to
// it. An unpaid upload's quote is closed.
type Delete struct {
	FileID string      `json:"file_id"`
	Auth   AccountAuth `json:"auth"`
}

func consentMsg(action, account string) canonical {
	c := make(canonical, 0, 128)
	c = append(c, accountDomain...)
	return c.str(action).str(account)
}

// OwnMessage is what an account signs to own a new upload (private: only
// its key reads it).
func OwnMessage(account, fileID string, private bool) []byte {
	p := int64(0)
	if private {
		p = 1
	}
	return consentMsg("own", account).str(fileID).i64(p)
}

// PayMessage is what an account signs to pay amount for a file's open
// quote from its balance, as payment paymentID.
func PayMessage(account, paymentID, fileID string, amount int64) []byte {
	return consentMsg("pay", account).str(paymentID).str(fileID).i64(amount)
}

// UpdateMessage is what an account signs to merge additional into its
// file at revision rev (File.Rev).
func UpdateMessage(account, fileID string, rev int64, additional map[string]json.RawMessage) []byte {
	b, err := json.Marshal(additional) // sorted keys: the same map gives the same bytes
	if err != nil {
		b = []byte(err.Error()) // matches no signature of a valid patch
	}
	d := sha256.Sum256(b)
	return consentMsg("update", account).str(fileID).i64(rev).str(string(d[:]))
}

// DeleteMessage is what an account signs to delete its file.
func DeleteMessage(account, fileID string) []byte {
	return consentMsg("delete", account).str(fileID)
}

// CreditAuthorization is what the payment processor signs to credit an
// account (when the network has a processor key): the account, the amount
// and the account's credit sequence number (Account.Credits before it),
// which makes it single-use.
type CreditAuthorization struct {
	AccountID string
	Amount    int64
	Seq       int64
}

const creditDomain = "dds-credit-v1"

// Canonical returns the bytes the processor signs.
func (a CreditAuthorization) Canonical() []byte {
	c := make(canonical, 0, 64+len(a.AccountID))
	c = append(c, creditDomain...)
	return c.str(a.AccountID).i64(a.Amount).i64(a.Seq)
}

// Sign returns the processor's signature of a.
func (a CreditAuthorization) Sign(key ed25519.PrivateKey) []byte {
	return ed25519.Sign(key, a.Canonical())
}

// checkConsent checks auth against the account's key: the account exists
// and signed msg.
func (s *State) checkConsent(auth *AccountAuth, msg []byte) (*Account, *Error) {
	if auth == nil {
		return nil, refusal(ErrForbidden, "no consent of the account")
	}
	a, ok := s.accounts[auth.Account]
	if !ok {
		return nil, refusal(ErrNotFound, "account %s not found", auth.Account)
	}
	if !s.verify(a.PublicKey, msg, auth.Sig) {
		return nil, refusal(ErrForbidden, "not signed with the key of account %s", auth.Account)
	}
	return a, nil
}

func (s *State) applyOpen(now time.Time, by string, c *OpenAccount) Result {
	switch {
	case !s.initialised:
		return fail(refusal(ErrConflict, "ledger not initialised"))
	case c.AccountID == "" || len(c.AccountID) > MaxIDLen:
		return fail(refusal(ErrInvalid, "account id must be 1 to %d bytes", MaxIDLen))
	case c.Name == "" || len(c.Name) > MaxAccountName || strings.ContainsFunc(c.Name, isControl):
		return fail(refusal(ErrInvalid, "account name must be 1 to %d bytes with no control characters", MaxAccountName))
	case len(c.PublicKey) != ed25519.PublicKeySize:
		return fail(refusal(ErrInvalid, "account public key must be %d bytes", ed25519.PublicKeySize))
	}
	if _, dup := s.accounts[c.AccountID]; dup {
		return fail(refusal(ErrConflict, "account %s already exists", c.AccountID))
	}
	k := hex.EncodeToString(c.PublicKey)
	if _, dup := s.accountKeys[k]; dup {
		return fail(refusal(ErrConflict, "an account with that key already exists"))
	}
	a := &Account{ID: c.AccountID, Name: c.Name, PublicKey: bytes.Clone(c.PublicKey), OpenedAt: now, OpenedBy: by}
	s.accounts[a.ID] = a
	s.accountKeys[k] = a.ID
	out := *a
	return Result{Account: &out}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// credit applies a successful payment to an account: a credit of its
// balance, with the processor's authorization when the network has a
// processor key.
func (s *State) credit(now time.Time, p *Pay) Result {
	if p.Status != PaymentSuccess {
		return fail(refusal(ErrInvalid, "a credit of an account has status %q", PaymentSuccess))
	}
	if p.From != nil {
		return fail(refusal(ErrInvalid, "a credit of an account is not paid from an account"))
	}
	a, ok := s.accounts[p.AccountID]
	if !ok {
		return fail(refusal(ErrNotFound, "account %s not found", p.AccountID))
	}
	if s.processorKey != nil {
		auth := CreditAuthorization{AccountID: a.ID, Amount: p.Amount, Seq: a.Credits}
		if !s.verify(s.processorKey, auth.Canonical(), p.ProcessorSig) {
			return fail(refusal(ErrForbidden, "credit of account %s: not signed by this network's payment processor for credit %d", a.ID, a.Credits))
		}
	}
	bal, ok1 := addMoney(a.Balance, p.Amount)
	total, ok2 := addMoney(s.paid, p.Amount)
	if !ok1 || !ok2 {
		return fail(refusal(ErrInvalid, "amount overflows the ledger's totals"))
	}
	a.Balance = bal
	a.Credits++
	s.paid = total
	s.paidCount++
	pay := Payment{ID: p.PaymentID, AccountID: a.ID, Status: p.Status, Amount: p.Amount, Kind: KindCredit, At: now, ReceivedBy: p.ReceivedBy}
	s.payments[pay.ID] = pay
	out, acc := pay, *a
	return Result{Payment: &out, Account: &acc}
}

// KindCredit is the kind of a payment that credits an account.
const KindCredit QuoteKind = "credit"

// debit checks an account's consent to pay amount for a file's quote from
// its balance and takes it. It changes nothing when it refuses.
func (s *State) debit(p *Pay, price int64) (*Account, *Error) {
	if p.Status != PaymentSuccess {
		return nil, refusal(ErrInvalid, "a payment from an account's balance has status %q", PaymentSuccess)
	}
	a, e := s.checkConsent(p.From, PayMessage(p.From.Account, p.PaymentID, p.FileID, p.Amount))
	if e != nil {
		return nil, e
	}
	if p.Amount != price {
		return nil, refusal(ErrInvalid, "a payment from a balance pays the price (%d), not %d", price, p.Amount)
	}
	if a.Balance < p.Amount {
		return nil, refusal(ErrPaymentRequired, "the balance of account %s (%d) is below the price %d", a.ID, a.Balance, price)
	}
	a.Balance -= p.Amount
	return a, nil
}

// own checks an upload's owner's consent.
func (s *State) own(q *PutQuote) *Error {
	if q.Owner == nil {
		if q.Private {
			return refusal(ErrInvalid, "a private file needs an owner")
		}
		return nil
	}
	_, e := s.checkConsent(q.Owner, OwnMessage(q.Owner.Account, q.Quote.FileID, q.Private))
	return e
}

// addOwned indexes a new file under its owner.
func (s *State) addOwned(rec *fileRecord) {
	if o := rec.File.Owner; o != "" {
		s.owned[o] = append(s.owned[o], rec)
	}
}

// forgetOwned removes a forgotten file from its owner's index.
func (s *State) forgetOwned(rec *fileRecord) {
	o := rec.File.Owner
	if o == "" {
		return
	}
	recs := s.owned[o]
	i, found := slices.BinarySearchFunc(recs, rec.File.CreatedAt, func(r *fileRecord, t time.Time) int { return r.File.CreatedAt.Compare(t) })
	if found {
		recs[i] = nil
		s.owned[o] = slices.Delete(recs, i, i+1)
	}
}

func (s *State) applyDelete(now time.Time, d *Delete) Result {
	rec, ok := s.record(d.FileID)
	if !ok {
		return fail(refusal(ErrNotFound, "file %s not found", d.FileID))
	}
	f := &rec.File
	if f.Owner == "" {
		return fail(refusal(ErrForbidden, "file %s has no owner: it cannot be deleted", f.ID))
	}
	if d.Auth.Account != f.Owner {
		return fail(refusal(ErrForbidden, "file %s belongs to another account", f.ID))
	}
	if _, e := s.checkConsent(&d.Auth, DeleteMessage(d.Auth.Account, f.ID)); e != nil {
		return fail(e)
	}
	var res Result
	switch f.State {
	case StateQuoted:
		f.Quote = nil
		rec.Last = quoteCancelled
		f.State = StateDeleted
		rec.Ended = now
		rec.tombstone()
		res.Dropped = []string{f.ID}
	case StateStoring, StateStored, StateExtensionQuoted:
		if !s.endLease(now, rec) {
			return fail(refusal(ErrGone, "the term of file %s ended", f.ID))
		}
		res.Expired = []string{f.ID}
	default:
		return fail(refusal(ErrGone, "file %s is %s", f.ID, f.State))
	}
	s.schedule(rec)
	out := f.clone()
	res.File = &out
	return res
}

// endLease ends a live lease now, as its owner's delete: an open extension
// quote closes, the balance that paid gets its unused whole days back, the
// holdings end, the file leaves its bucket and becomes a tombstone. False
// when the lease is not live (then nothing changed).
func (s *State) endLease(now time.Time, rec *fileRecord) bool {
	f := &rec.File
	switch f.State {
	case StateStoring, StateStored, StateExtensionQuoted:
	default:
		return false
	}
	if !now.Before(f.ExpiresAt) {
		return false
	}
	if f.Quote != nil {
		rec.closeExtension(quoteCancelled, s.settings.Replicas)
	}
	s.refund(now, rec)
	for i := range rec.Holdings {
		if rec.Holdings[i].End.IsZero() {
			rec.Holdings[i].End = now
		}
	}
	f.ExpiresAt = now
	f.State = StateDeleted
	s.unmapFile(f.ID)
	s.retire(rec)
	s.schedule(rec)
	return true
}

// refund gives back to the paying accounts the whole days after now of
// the lease's segments they paid from their balance: each such segment is
// cut short by those days and its price by their share of it (rounded
// down: what a report splits among the holders is what was not refunded).
func (s *State) refund(now time.Time, rec *fileRecord) {
	segs := rec.Segments[:0]
	for _, sg := range rec.Segments {
		if a := s.accounts[sg.Account]; a != nil && sg.End.After(now) {
			from := sg.Start
			if from.Before(now) {
				from = now
			}
			days := sg.End.Sub(from) / day
			if days > 0 {
				cut := days * day
				hi, lo := bits.Mul64(uint64(sg.Price), uint64(cut))
				back, _ := bits.Div64(hi, lo, uint64(sg.End.Sub(sg.Start))) // cut <= length: no overflow
				if bal, ok := addMoney(a.Balance, int64(back)); ok {
					a.Balance = bal
					sg.Price -= int64(back)
					sg.End = sg.End.Add(-cut)
				}
			}
		}
		if sg.End.After(sg.Start) {
			segs = append(segs, sg)
		}
	}
	rec.Segments = segs
}

// Account returns the account with the given id.
func (s *State) Account(id string) (Account, bool) {
	a, ok := s.accounts[id]
	if !ok {
		return Account{}, false
	}
	out := *a
	out.PublicKey = bytes.Clone(a.PublicKey)
	return out, true
}

// AccountByKey returns the account whose API key has the public key pub
// (AccountPublicKey).
func (s *State) AccountByKey(pub []byte) (Account, bool) {
	id, ok := s.accountKeys[hex.EncodeToString(pub)]
	if !ok {
		return Account{}, false
	}
	return s.Account(id)
}

// AccountUsage returns the number of an account's files that have not
// ended (quoted or leased) and the bytes of its live leases.
func (s *State) AccountUsage(id string) (files int, stored int64) {
	for _, rec := range s.owned[id] {
		switch rec.File.State {
		case StateQuoted:
			files++
		case StateStoring, StateStored, StateExtensionQuoted:
			files++
			stored += rec.File.Size
		}
	}
	return files, stored
}

// AccountPage is Page over the files an account owns, those in state
// state only when state is not empty.
func (s *State) AccountPage(account, after string, limit int, state FileState) (files []File, ok bool) {
	recs := s.owned[account]
	start := 0
	if after != "" {
		id, created, hasTime, err := ParseCursor(after)
		if err != nil {
			return nil, false
		}
		if !hasTime {
			rec, known := s.byID[id]
			if !known || rec.File.Owner != account {
				return nil, false
			}
			created = rec.File.CreatedAt.UnixNano()
		}
		start, _ = slices.BinarySearchFunc(recs, created+1, func(r *fileRecord, t int64) int {
			c := r.File.CreatedAt.UnixNano()
			switch {
			case c < t:
				return -1
			case c > t:
				return 1
			}
			return 0
		})
	}
	for _, rec := range recs[start:] {
		if limit > 0 && len(files) == limit {
			break
		}
		if state == "" || rec.File.State == state {
			files = append(files, rec.File.clone())
		}
	}
	return files, true
}
