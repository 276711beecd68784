package billing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits on the additional attributes of a file (spec/api.md).
const (
	MaxAdditionalKeys  = 64
	MaxAdditionalBytes = 16 << 10
)

// maxHTTPLen bounds a registered node's HTTP address.
const maxHTTPLen = 2048

// quoteStatus is the fate of a file's last quote.
type quoteStatus string

const (
	quoteOpen      quoteStatus = "open"
	quotePaid      quoteStatus = "paid"
	quoteCancelled quoteStatus = "cancelled"
	quoteLapsed    quoteStatus = "expired"
)

// paidQuote keeps what the file resource shows of the last paid quote, to
// restore it when a later extension quote closes unpaid.
type paidQuote struct {
	Price          int64     `json:"price"`
	AttestedBy     []string  `json:"attested_by,omitempty"`
	QuoteExpiresAt time.Time `json:"quote_expires_at"`
}

// segment is a paid stretch of a lease: Price is spread evenly over [Start, End).
type segment struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Price int64     `json:"price"`
	// Account is the account whose balance paid it ("" when the payment
	// processor did): a delete gives it back its unused whole days.
	Account string `json:"account,omitempty"`
}

// holding is the time a holder held a file: [Start, End), End zero while it
// still holds it.
type holding struct {
	Holder string    `json:"holder"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
}

// fileRecord is the ledger's whole knowledge of a file.
type fileRecord struct {
	File     File        `json:"file"`
	Last     quoteStatus `json:"last"`
	LastPaid *paidQuote  `json:"last_paid,omitempty"`
	Segments []segment   `json:"segments,omitempty"`
	Holdings []holding   `json:"holdings,omitempty"`
	// Ended is when the file became a tombstone: its new quote's end
	// (lapsed unpaid), its lease's end (expired), or its cancellation.
	// Retention counts from it.
	Ended time.Time `json:"ended,omitzero"`

	due  time.Time // next deadline (see deadline), the key in State.due
	slot int       // index in State.due, -1 when out of it
	pos  int       // index in State.files
}

// liveState is the state of a paid, live file with no open quote.
func (r *fileRecord) liveState(replicas int) FileState {
	if len(r.File.Holders) >= replicas {
		return StateStored
	}
	return StateStoring
}

// closeExtension closes an open extension quote with status st and shows
// the last paid quote again.
func (r *fileRecord) closeExtension(st quoteStatus, replicas int) {
	f := &r.File
	f.Quote = nil
	r.Last = st
	if r.LastPaid != nil {
		f.Price = r.LastPaid.Price
		f.AttestedBy = cloneStrings(r.LastPaid.AttestedBy)
		f.QuoteExpiresAt = r.LastPaid.QuoteExpiresAt
	}
	f.State = r.liveState(replicas)
}

// State is the whole ledger: settings, node registry, files and payments.
// It is a pure state machine: Apply is deterministic in (state, command),
// reads no clock, does no I/O and starts no goroutine. State is not safe for
// concurrent use; Ledger is.
type State struct {
	initialised bool
	settings    Settings
	nodes       map[string]Node
	files       []*fileRecord          // in creation order; nil where a file was forgotten
	created     []int64                // CreatedAt (Unix ns) of files[i], kept for forgotten ones: cursors
	holes       int                    // nil entries in files (see compact)
	byID        map[string]*fileRecord // file id -> record
	due         deadlines              // every file record, by next deadline (retention.go)
	accruals    []*accrual             // report data of ended leases, by (End, FileID)
	accDropped  int                    // accruals dropped from the front since the array was copied
	payments    map[string]Payment
	lastCreated time.Time // CreatedAt of the newest file
	// clock is the latest time an applied command carried: the ledger's
	// time never goes back, so a command stamped earlier (by a leader
	// appending a backdated payment of an expired quote, say) applies at
	// this time instead.
	clock     time.Time
	paid      int64 // sum of successful payments
	paidCount int   // number of successful payments

	admissionKey []byte            // signs invites and removals (Init)
	processorKey []byte            // signs payments (Init), nil when the network has none
	members      map[string]Member // admitted and not removed, by peer id
	usedInvites  map[string]bool   // Invite.ID of every invite that admitted a node
	removed      map[string]bool   // removed and not admitted again, by peer id

	accounts    map[string]*Account      // by account id
	accountKeys map[string]string        // hex public key -> account id
	owned       map[string][]*fileRecord // account id -> the files it owns, in creation order

	buckets    map[string]*bucketRec // by name
	bucketGens map[string]int64      // bucket name -> deletes of that name so far (absent: 0)
	objects    map[string]*objectRec // file id -> the object that names it

	// verified holds the signatures the Ledger checked before it took its
	// write lock (see Ledger.ApplyBatch), by checkedKey; a signature found
	// here is valid, any other is checked as it is met.
	verified map[[32]byte]bool
}

// verify checks an ed25519 signature, unless the Ledger checked it already.
func (s *State) verify(pub, msg, sig []byte) bool {
	if s.verified[checkedKey(pub, msg, sig)] {
		return true
	}
	return verifySig(pub, msg, sig)
}

// signatures lists the signature checks c will need, with the keys
// registered now: its proposer's, attestations of a quote, receipts of a
// hold.
func (s *State) signatures(c Command) (checks [][3][]byte) {
	if key, e := s.signer(c); e == nil && len(c.Sig) > 0 {
		if msg := c.message(); msg != nil {
			checks = append(checks, [3][]byte{key, msg, c.Sig})
		}
	}
	if q := c.Quote; q != nil && len(q.Attestations) <= MaxSigners {
		msg := q.Quote.Canonical()
		for _, a := range q.Attestations {
			if n, ok := s.nodes[a.Signer]; ok {
				checks = append(checks, [3][]byte{n.PublicKey, msg, a.Signature})
			}
		}
	}
	if p := c.Pay; p != nil {
		if pub, msg, sig := s.processorCheck(p); pub != nil && len(sig) > 0 {
			checks = append(checks, [3][]byte{pub, msg, sig})
		}
	}
	if d := c.Drop; d != nil && len(d.Reports) <= MaxSigners {
		for _, r := range d.Reports {
			if n, ok := s.nodes[r.Reporter]; ok {
				checks = append(checks, [3][]byte{n.PublicKey, r.Canonical(), r.Signature})
			}
		}
	}
	if h := c.Hold; h != nil && len(h.Receipts) <= s.settings.Replicas {
		for _, r := range h.Receipts {
			if n, ok := s.nodes[r.Holder]; ok {
				checks = append(checks, [3][]byte{n.PublicKey, r.Canonical(), r.Signature})
			}
		}
	}
	return checks
}

// NewState returns an empty, uninitialised ledger.
func NewState() *State {
	return &State{
		nodes:    make(map[string]Node),
		byID:     make(map[string]*fileRecord),
		payments: make(map[string]Payment),

		members:     make(map[string]Member),
		usedInvites: make(map[string]bool),
		removed:     make(map[string]bool),

		accounts:    make(map[string]*Account),
		accountKeys: make(map[string]string),
		owned:       make(map[string][]*fileRecord),

		buckets:    make(map[string]*bucketRec),
		bucketGens: make(map[string]int64),
		objects:    make(map[string]*objectRec),
	}
}

// Apply applies one command and returns its result. A refused command leaves
// the state unchanged and sets Result.Err. Apply never panics: a bug caught
// while applying is reported with the code "internal".
func (s *State) Apply(cmd Command) (res Result) {
	defer func() {
		if r := recover(); r != nil {
			res = Result{Err: &Error{Code: codeInternal, Message: fmt.Sprintf("apply %s: %v", cmd.Kind(), r)}}
		}
	}()
	if n, _ := cmd.kinds(); n != 1 {
		return fail(refusal(ErrInvalid, "command has %d kinds, want exactly 1", n))
	}
	if !validTime(cmd.Time) {
		return fail(refusal(ErrInvalid, "command time out of range"))
	}
	key, e := s.signer(cmd)
	if e != nil {
		return fail(e)
	}
	if msg := cmd.message(); len(cmd.Sig) == 0 || msg == nil || !s.verify(key, msg, cmd.Sig) {
		return fail(refusal(ErrForbidden, "%s command: not signed by its proposer %s", cmd.Kind(), cmd.By))
	}
	now := cmd.Time.UTC()
	if now.Before(s.clock.Add(-MaxCommandAge)) {
		return fail(refusal(ErrInvalid, "%s command stamped %s, more than %v before the ledger's time %s: a replay, or a proposer's clock far behind",
			cmd.Kind(), now.Format(time.RFC3339Nano), MaxCommandAge, s.clock.Format(time.RFC3339Nano)))
	}
	if now.Before(s.clock) {
		now = s.clock
	}
	defer func() {
		if res.Err == nil {
			s.clock = now
		}
	}()
	switch {
	case cmd.Init != nil:
		return s.applyInit(now, cmd.Init)
	case cmd.Register != nil:
		return s.applyRegister(now, cmd.Register)
	case cmd.Quote != nil:
		return s.applyQuote(now, cmd.Quote)
	case cmd.Pay != nil:
		return s.applyPay(now, cmd.Pay)
	case cmd.Update != nil:
		return s.applyUpdate(now, cmd.Update)
	case cmd.Hold != nil:
		return s.applyHold(now, cmd.By, cmd.Hold)
	case cmd.Drop != nil:
		return s.applyDrop(now, cmd.By, cmd.Drop)
	case cmd.Admit != nil:
		return s.applyAdmit(now, cmd.Admit)
	case cmd.Remove != nil:
		return s.applyRemove(now, cmd.Remove)
	case cmd.Open != nil:
		return s.applyOpen(now, cmd.By, cmd.Open)
	case cmd.Delete != nil:
		return s.applyDelete(now, cmd.Delete)
	case cmd.MakeBucket != nil:
		return s.applyMakeBucket(now, cmd.MakeBucket)
	case cmd.DropBucket != nil:
		return s.applyDropBucket(cmd.DropBucket)
	case cmd.PutObject != nil:
		return s.applyPutObject(now, cmd.PutObject)
	case cmd.DeleteObjects != nil:
		return s.applyDeleteObjects(now, cmd.DeleteObjects)
	default:
		return s.applyExpire(now)
	}
}

func fail(e *Error) Result { return Result{Err: e} }

// MaxCommandAge is how far before the ledger's time (the latest time an
// applied command carried) a command may be stamped: a command older
// than that is refused on every replica. The leader takes a forwarded
// command stamped up to 10 s behind its clock, and commands wait a few
// seconds more in queues; what is older is a replay (of a signed command
// a leader kept) or a proposer whose clock is far off. The margin is wide
// because the ledger's time is the fastest clock that ever led: after a
// leader whose clock ran minutes ahead, the others' commands would be
// refused until real time catches up past the margin.
const MaxCommandAge = 5 * time.Minute

// signer returns the key c's signature must be made with, or why c's
// proposer may not propose it: a command is proposed by a registered
// member, with its registered key; Init by the founder and Register by
// the node itself, with the key their peer ids carry (they have no
// registered key yet). A quote is proposed by its issuer and a payment by
// the member that received it.
func (s *State) signer(c Command) ([]byte, *Error) {
	switch {
	case c.By == "":
		return nil, refusal(ErrForbidden, "%s command: no proposer", c.Kind())
	case len(c.By) > MaxIDLen:
		return nil, refusal(ErrInvalid, "proposer id longer than %d bytes", MaxIDLen)
	case c.Init != nil:
		if c.By != c.Init.Founder {
			return nil, refusal(ErrForbidden, "init proposed by %s: only the founder, %s, makes its network", c.By, c.Init.Founder)
		}
		key, err := PeerKey(c.By)
		if err != nil {
			return nil, refusal(ErrInvalid, "founder: %v", err)
		}
		return key, nil
	case c.Register != nil:
		if c.By != c.Register.Node.PeerID {
			return nil, refusal(ErrForbidden, "register of %s proposed by %s: a node registers itself only", c.Register.Node.PeerID, c.By)
		}
		if !keyOfID(c.By, c.Register.Node.PublicKey) {
			return nil, refusal(ErrForbidden, "register of %s: the public key is not the one its peer id carries", c.By)
		}
		return c.Register.Node.PublicKey, nil
	}
	n, ok := s.nodes[c.By]
	switch {
	case !s.IsMember(c.By):
		return nil, refusal(ErrForbidden, "%s command proposed by %s, not a member of this network", c.Kind(), c.By)
	case !ok:
		return nil, refusal(ErrForbidden, "%s command proposed by %s, not registered", c.Kind(), c.By)
	case c.Quote != nil && c.Quote.Quote.Issuer != c.By:
		return nil, refusal(ErrForbidden, "quote issued by %s proposed by %s: an issuer proposes its own quotes", c.Quote.Quote.Issuer, c.By)
	case c.Pay != nil && c.Pay.ReceivedBy != c.By:
		return nil, refusal(ErrForbidden, "payment received by %s proposed by %s: a member proposes the payments it took", c.Pay.ReceivedBy, c.By)
	}
	return n.PublicKey, nil
}

// asError turns an error from a check into an *Error.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return refusal(ErrInvalid, "%v", err)
}

func (s *State) applyInit(now time.Time, c *Init) Result {
	if s.initialised {
		return fail(refusal(ErrConflict, "ledger already initialised"))
	}
	if err := c.Settings.Validate(); err != nil {
		return fail(asError(err))
	}
	switch {
	case len(c.AdmissionKey) != ed25519.PublicKeySize:
		return fail(refusal(ErrInvalid, "admission key must be %d bytes", ed25519.PublicKeySize))
	case c.Founder == "" || len(c.Founder) > MaxIDLen:
		return fail(refusal(ErrInvalid, "founder must be a peer id of 1 to %d bytes", MaxIDLen))
	case c.ProcessorKey != nil && len(c.ProcessorKey) != ed25519.PublicKeySize:
		return fail(refusal(ErrInvalid, "payment processor key must be %d bytes", ed25519.PublicKeySize))
	}
	s.initialised = true
	s.settings = c.Settings.withDefaults()
	s.admissionKey = bytes.Clone(c.AdmissionKey)
	s.processorKey = bytes.Clone(c.ProcessorKey)
	s.members[c.Founder] = Member{PeerID: c.Founder, Admitted: now}
	return Result{}
}

func (s *State) applyRegister(now time.Time, c *Register) Result {
	n := c.Node
	switch {
	case n.PeerID == "" || len(n.PeerID) > MaxIDLen:
		return fail(refusal(ErrInvalid, "peer id must be 1 to %d bytes", MaxIDLen))
	case len(n.PublicKey) != ed25519.PublicKeySize:
		return fail(refusal(ErrInvalid, "public key must be %d bytes", ed25519.PublicKeySize))
	case len(n.HTTP) > maxHTTPLen:
		return fail(refusal(ErrInvalid, "http address longer than %d bytes", maxHTTPLen))
	case !s.IsMember(n.PeerID):
		return fail(refusal(ErrForbidden, "%s is not a member of this network: it needs an invite", n.PeerID))
	}
	if old, ok := s.nodes[n.PeerID]; ok {
		if !bytes.Equal(old.PublicKey, n.PublicKey) {
			return fail(refusal(ErrConflict, "peer %s is registered with another key", n.PeerID))
		}
		old.HTTP = n.HTTP
		s.nodes[n.PeerID] = old
		return Result{}
	}
	s.nodes[n.PeerID] = Node{PeerID: n.PeerID, PublicKey: bytes.Clone(n.PublicKey), HTTP: n.HTTP, Joined: now}
	return Result{}
}

func (s *State) record(id string) (*fileRecord, bool) {
	rec, ok := s.byID[id]
	return rec, ok
}

func (s *State) applyQuote(now time.Time, c *PutQuote) Result {
	if !s.initialised {
		return fail(refusal(ErrConflict, "ledger not initialised"))
	}
	q := c.Quote
	if q.FileID == "" {
		return fail(refusal(ErrInvalid, "quote has no file id"))
	}
	switch q.Kind {
	case QuoteNew:
		return s.quoteNew(now, c)
	case QuoteExtension:
		return s.quoteExtension(now, c)
	default:
		return fail(refusal(ErrInvalid, "unknown quote kind %q", q.Kind))
	}
}

// checkQuote runs the checks shared by new and extension quotes: the quote's
// own fields, the time window and the attestations. It returns the sorted
// signers.
func (s *State) checkQuote(now time.Time, c *PutQuote) ([]string, *Error) {
	q := c.Quote
	if err := q.Check(s.settings); err != nil {
		return nil, asError(err)
	}
	if now.Before(q.CreatedAt) {
		return nil, refusal(ErrInvalid, "quote created after the command time")
	}
	if !now.Before(q.ExpiresAt) {
		return nil, refusal(ErrQuoteExpired, "quote expired at %s", q.ExpiresAt.UTC().Format(time.RFC3339Nano))
	}
	return s.verifyAttestations(q, c.Attestations)
}

// verifyAttestations checks that at least Threshold distinct registered
// nodes signed q, and that every attestation given is valid.
func (s *State) verifyAttestations(q Quote, atts []Attestation) ([]string, *Error) {
	if _, ok := s.nodes[q.Issuer]; !ok {
		return nil, refusal(ErrInvalid, "issuer %s is not registered", q.Issuer)
	}
	if len(atts) > MaxSigners {
		return nil, refusal(ErrInvalid, "more than %d attestations", MaxSigners)
	}
	msg := q.Canonical()
	signers := make([]string, 0, len(atts))
	for i, a := range atts {
		if slices.Contains(signers, a.Signer) {
			return nil, refusal(ErrInvalid, "attestation %d: signer %s signed twice", i, a.Signer)
		}
		if a.Signer == q.Issuer && !s.settings.SelfAttest {
			return nil, refusal(ErrInvalid, "attestation %d: the issuer cannot attest its own quote", i)
		}
		n, ok := s.nodes[a.Signer]
		if !ok {
			return nil, refusal(ErrInvalid, "attestation %d: signer %s is not registered", i, a.Signer)
		}
		if !s.verify(n.PublicKey, msg, a.Signature) {
			return nil, refusal(ErrInvalid, "attestation %d: bad signature by %s", i, a.Signer)
		}
		signers = append(signers, a.Signer)
	}
	if len(signers) < s.settings.Threshold {
		return nil, refusal(ErrInvalid, "quote has %d attestations, needs %d", len(signers), s.settings.Threshold)
	}
	if !s.settings.SelfAttest {
		if a := s.outsideWindow(q.CID, q.Issuer, signers); a != "" {
			return nil, refusal(ErrForbidden, "attester %s is not among the %d members closest to the quote's cid: an issuer does not choose its attesters", a, AttestWindow(s.settings))
		}
	}
	slices.Sort(signers)
	return signers, nil
}

// normQuote returns a copy of q with its times in UTC.
func normQuote(q Quote) *Quote {
	q.CreatedAt = q.CreatedAt.UTC()
	q.ExpiresAt = q.ExpiresAt.UTC()
	return &q
}

func (s *State) quoteNew(now time.Time, c *PutQuote) Result {
	q := c.Quote
	if _, ok := s.byID[q.FileID]; ok {
		return fail(refusal(ErrConflict, "file %s already exists", q.FileID))
	}
	signers, e := s.checkQuote(now, c)
	if e != nil {
		return fail(e)
	}
	add, e := mergeAdditional(nil, c.Additional)
	if e != nil {
		return fail(e)
	}
	if e := s.own(c); e != nil {
		return fail(e)
	}
	owner := ""
	if c.Owner != nil {
		owner = c.Owner.Account
	}
	// CreatedAt increases strictly, so that the order by (CreatedAt, id) is
	// the order of creation and a new file never shifts a page.
	created := now
	if !created.After(s.lastCreated) {
		created = s.lastCreated.Add(time.Nanosecond)
	}
	qq := normQuote(q)
	rec := &fileRecord{
		File: File{
			ID:             q.FileID,
			Name:           q.Name,
			CID:            q.CID,
			Size:           q.Size,
			Additional:     add,
			State:          StateQuoted,
			Duration:       q.Duration,
			Price:          q.Price,
			Quote:          qq,
			QuoteExpiresAt: qq.ExpiresAt,
			AttestedBy:     signers,
			CreatedAt:      created,
			Issuer:         q.Issuer,
			Owner:          owner,
			Private:        c.Private,
		},
		Last: quoteOpen,
	}
	s.add(rec)
	s.addOwned(rec)
	s.lastCreated = created
	f := rec.File.clone()
	return Result{File: &f}
}

func (s *State) quoteExtension(now time.Time, c *PutQuote) Result {
	q := c.Quote
	rec, ok := s.record(q.FileID)
	if !ok {
		return fail(refusal(ErrNotFound, "file %s not found", q.FileID))
	}
	if c.Owner != nil || c.Private {
		return fail(refusal(ErrInvalid, "an extension quote does not change the file's owner"))
	}
	f := &rec.File
	switch f.State {
	case StateStoring, StateStored:
	case StateExtensionQuoted:
		if now.Before(f.Quote.ExpiresAt) {
			return fail(refusal(ErrConflict, "file %s already has an open extension quote", f.ID))
		}
	case StateExpired:
		if f.Leased() {
			return fail(refusal(ErrGone, "the term of file %s ended", f.ID))
		}
		return fail(refusal(ErrConflict, "file %s was never paid", f.ID))
	case StateDeleted:
		return fail(refusal(ErrGone, "file %s was deleted", f.ID))
	default:
		return fail(refusal(ErrConflict, "file %s is not paid", f.ID))
	}
	if !now.Before(f.ExpiresAt) {
		return fail(refusal(ErrGone, "the term of file %s ended", f.ID))
	}
	if q.Duration <= f.Duration {
		return fail(refusal(ErrConflict, "the new term (%d s) must be longer than the current term (%d s)", q.Duration, f.Duration))
	}
	if q.PrevDuration != f.Duration {
		return fail(refusal(ErrConflict, "the quote extends a term of %d s, the current term is %d s", q.PrevDuration, f.Duration))
	}
	if q.CID != f.CID || q.Size != f.Size || q.Name != f.Name {
		return fail(refusal(ErrInvalid, "the quote does not match file %s", f.ID))
	}
	signers, e := s.checkQuote(now, c)
	if e != nil {
		return fail(e)
	}
	add, e := mergeAdditional(f.Additional, c.Additional)
	if e != nil {
		return fail(e)
	}
	qq := normQuote(q)
	f.Additional = add
	f.Quote = qq
	f.Price = q.Price
	f.QuoteExpiresAt = qq.ExpiresAt
	f.AttestedBy = signers
	f.State = StateExtensionQuoted
	rec.Last = quoteOpen
	s.schedule(rec)
	out := f.clone()
	return Result{File: &out}
}

func (s *State) applyPay(now time.Time, p *Pay) Result {
	switch {
	case p.PaymentID == "" || len(p.PaymentID) > MaxIDLen:
		return fail(refusal(ErrInvalid, "payment id must be 1 to %d bytes", MaxIDLen))
	case p.Status != PaymentSuccess && p.Status != PaymentError:
		return fail(refusal(ErrInvalid, "payment status must be %q or %q", PaymentSuccess, PaymentError))
	case p.Amount < 0:
		return fail(refusal(ErrInvalid, "amount must not be negative"))
	case !s.IsMember(p.ReceivedBy):
		return fail(refusal(ErrForbidden, "a payment is received by a member of the network, not %q", p.ReceivedBy))
	case p.From != nil && p.Status != PaymentSuccess:
		return fail(refusal(ErrInvalid, "a payment from an account's balance has status %q", PaymentSuccess))
	}
	if p.AccountID != "" {
		if p.FileID != "" {
			return fail(refusal(ErrInvalid, "a payment pays a file or credits an account, not both"))
		}
		if _, dup := s.payments[p.PaymentID]; dup {
			return fail(refusal(ErrConflict, "payment %s already recorded", p.PaymentID))
		}
		return s.credit(now, p)
	}
	rec, ok := s.record(p.FileID)
	if !ok {
		return fail(refusal(ErrNotFound, "file %s not found", p.FileID))
	}
	if _, dup := s.payments[p.PaymentID]; dup {
		return fail(refusal(ErrConflict, "payment %s already recorded", p.PaymentID))
	}
	f := &rec.File
	q := f.Quote
	if q == nil {
		switch rec.Last {
		case quotePaid:
			return fail(refusal(ErrAlreadyPaid, "file %s has no open quote: the last one was paid", f.ID))
		case quoteLapsed:
			return fail(refusal(ErrQuoteExpired, "the quote of file %s expired", f.ID))
		default:
			return fail(refusal(ErrConflict, "file %s has no open quote", f.ID))
		}
	}
	if !now.Before(q.ExpiresAt) {
		return fail(refusal(ErrQuoteExpired, "the quote of file %s expired at %s", f.ID, q.ExpiresAt.Format(time.RFC3339Nano)))
	}
	if pub, msg, sig := s.processorCheck(p); pub != nil && p.From == nil && !s.verify(pub, msg, sig) {
		return fail(refusal(ErrForbidden, "payment of file %s: not signed by this network's payment processor", f.ID))
	}
	pay := Payment{ID: p.PaymentID, FileID: f.ID, Status: p.Status, Amount: p.Amount, Kind: q.Kind, At: now, ReceivedBy: p.ReceivedBy}
	var res Result
	if p.Status == PaymentError {
		if q.Kind == QuoteNew {
			f.State = StateCancelled
			rec.Last = quoteCancelled
			rec.Ended = now
			rec.tombstone()
			res.Dropped = []string{f.ID}
		} else {
			rec.closeExtension(quoteCancelled, s.settings.Replicas)
		}
	} else {
		if p.From == nil && p.Amount < q.Price {
			return fail(refusal(ErrAmountTooLow, "amount %d is below the price %d", p.Amount, q.Price))
		}
		if q.Kind == QuoteExtension && !now.Before(f.ExpiresAt) {
			return fail(refusal(ErrGone, "the term of file %s ended before the payment", f.ID))
		}
		filePaid, ok1 := addMoney(f.Paid, p.Amount)
		total, ok2 := addMoney(s.paid, p.Amount)
		if !ok1 || !ok2 {
			return fail(refusal(ErrInvalid, "amount overflows the ledger's totals"))
		}
		payer := ""
		if p.From != nil {
			// The money was counted in the totals when it was credited.
			if _, e := s.debit(p, q.Price); e != nil {
				return fail(e)
			}
			payer = p.From.Account
			pay.FromAccount = payer
			total = s.paid
		}
		f.Paid = filePaid
		s.paid = total
		s.paidCount++
		if q.Kind == QuoteNew {
			f.StoredAt = now
			f.ExpiresAt = now.Add(time.Duration(f.Duration) * time.Second)
			rec.Segments = append(rec.Segments, segment{Start: f.StoredAt, End: f.ExpiresAt, Price: q.Price, Account: payer})
			f.State = StateStoring
		} else {
			start := f.ExpiresAt
			f.Duration = q.Duration
			f.ExpiresAt = f.StoredAt.Add(time.Duration(f.Duration) * time.Second)
			rec.Segments = append(rec.Segments, segment{Start: start, End: f.ExpiresAt, Price: q.Price, Account: payer})
			f.State = rec.liveState(s.settings.Replicas)
		}
		f.Quote = nil
		rec.Last = quotePaid
		rec.LastPaid = &paidQuote{Price: f.Price, AttestedBy: cloneStrings(f.AttestedBy), QuoteExpiresAt: f.QuoteExpiresAt}
	}
	s.payments[pay.ID] = pay
	s.schedule(rec)
	out := f.clone()
	res.File = &out
	res.Payment = &pay
	return res
}

// checkWritable refuses changes to a file whose term ended or that was
// cancelled.
func checkWritable(now time.Time, f *File) *Error {
	switch f.State {
	case StateExpired:
		return refusal(ErrGone, "file %s expired", f.ID)
	case StateCancelled:
		return refusal(ErrConflict, "file %s was cancelled", f.ID)
	case StateDeleted:
		return refusal(ErrGone, "file %s was deleted", f.ID)
	}
	if f.Leased() && !now.Before(f.ExpiresAt) {
		return refusal(ErrGone, "the term of file %s ended", f.ID)
	}
	return nil
}

func (s *State) applyUpdate(now time.Time, u *Update) Result {
	rec, ok := s.record(u.FileID)
	if !ok {
		return fail(refusal(ErrNotFound, "file %s not found", u.FileID))
	}
	f := &rec.File
	if e := checkWritable(now, f); e != nil {
		return fail(e)
	}
	if f.Owner != "" {
		switch {
		case u.Auth == nil:
			return fail(refusal(ErrForbidden, "file %s has an owner: a change needs its consent", f.ID))
		case u.Auth.Account != f.Owner:
			return fail(refusal(ErrForbidden, "file %s belongs to another account", f.ID))
		case u.Rev != f.Rev:
			return fail(refusal(ErrConflict, "file %s is at revision %d, the change was made for revision %d", f.ID, f.Rev, u.Rev))
		}
		if _, e := s.checkConsent(u.Auth, UpdateMessage(u.Auth.Account, f.ID, u.Rev, u.Additional)); e != nil {
			return fail(e)
		}
	}
	add, e := mergeAdditional(f.Additional, u.Additional)
	if e != nil {
		return fail(e)
	}
	f.Additional = add
	if f.Owner != "" {
		f.Rev++
	}
	out := f.clone()
	return Result{File: &out}
}

// mergeAdditional returns base with patch merged in: a null (or empty) value
// deletes its key, others are checked and compacted. base is not modified.
func mergeAdditional(base, patch map[string]json.RawMessage) (map[string]json.RawMessage, *Error) {
	out := make(map[string]json.RawMessage, len(base)+len(patch))
	for k, v := range base {
		out[k] = v
	}
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := bytes.TrimSpace(patch[k])
		if len(v) == 0 || string(v) == "null" {
			delete(out, k)
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return nil, refusal(ErrInvalid, "additional %q is not valid JSON", k)
		}
		out[k] = buf.Bytes()
	}
	if len(out) > MaxAdditionalKeys {
		return nil, refusal(ErrInvalid, "additional has %d keys, at most %d allowed", len(out), MaxAdditionalKeys)
	}
	if len(out) == 0 {
		return nil, nil
	}
	enc, err := json.Marshal(out)
	if err != nil {
		return nil, refusal(ErrInvalid, "additional: %v", err)
	}
	if len(enc) > MaxAdditionalBytes {
		return nil, refusal(ErrInvalid, "additional is %d bytes encoded, at most %d allowed", len(enc), MaxAdditionalBytes)
	}
	return out, nil
}

// leased returns the record of a paid file whose lease is live, or the
// refusal: what holding and dropping holders need.
func (s *State) leased(id string) (*fileRecord, *Error) {
	rec, ok := s.record(id)
	if !ok {
		return nil, refusal(ErrNotFound, "file %s not found", id)
	}
	switch rec.File.State {
	case StateStoring, StateStored, StateExtensionQuoted:
		return rec, nil
	case StateExpired:
		return nil, refusal(ErrGone, "file %s expired", id)
	case StateDeleted:
		return nil, refusal(ErrGone, "file %s was deleted", id)
	}
	return nil, refusal(ErrConflict, "file %s is not paid", id)
}

func (s *State) applyHold(now time.Time, by string, h *Hold) Result {
	rec, e := s.leased(h.FileID)
	if e != nil {
		return fail(e)
	}
	f := &rec.File
	// The file's placer records its holders: its issuer, or one of its
	// holders (a repair). Not a member for itself: it would put itself
	// in the place of a dropped holder, and be paid, without the bytes.
	if by != f.Issuer && !slices.Contains(f.Holders, by) {
		return fail(refusal(ErrForbidden, "holders of file %s recorded by %s, neither its issuer nor one of its holders", f.ID, by))
	}
	if !now.Before(f.ExpiresAt) {
		return fail(refusal(ErrGone, "the term of file %s ended", f.ID))
	}
	if len(h.Receipts) == 0 || len(h.Receipts) > s.settings.Replicas {
		return fail(refusal(ErrInvalid, "a hold needs 1 to %d receipts", s.settings.Replicas))
	}
	var batch, add []string
	for i, r := range h.Receipts {
		if r.FileID != f.ID || r.CID != f.CID || r.Size != f.Size {
			return fail(refusal(ErrInvalid, "receipt %d does not match file %s", i, f.ID))
		}
		n, ok := s.nodes[r.Holder]
		if !ok {
			return fail(refusal(ErrInvalid, "receipt %d: holder %s is not registered", i, r.Holder))
		}
		if !s.verify(n.PublicKey, r.Canonical(), r.Signature) {
			return fail(refusal(ErrInvalid, "receipt %d: bad signature by %s", i, r.Holder))
		}
		if slices.Contains(batch, r.Holder) {
			return fail(refusal(ErrInvalid, "receipt %d: holder %s given twice", i, r.Holder))
		}
		batch = append(batch, r.Holder)
		if !slices.Contains(f.Holders, r.Holder) {
			add = append(add, r.Holder)
		}
	}
	if len(f.Holders)+len(add) > s.settings.Replicas {
		return fail(refusal(ErrConflict, "file %s would have %d holders, at most %d allowed",
			f.ID, len(f.Holders)+len(add), s.settings.Replicas))
	}
	start := now
	if start.Before(f.StoredAt) {
		start = f.StoredAt
	}
	for _, holder := range add {
		f.Holders = append(f.Holders, holder)
		rec.Holdings = append(rec.Holdings, holding{Holder: holder, Start: start})
	}
	if f.State != StateExtensionQuoted {
		f.State = rec.liveState(s.settings.Replicas)
	}
	out := f.clone()
	return Result{File: &out}
}

func (s *State) applyDrop(now time.Time, by string, d *Drop) Result {
	rec, e := s.leased(d.FileID)
	if e != nil {
		return fail(e)
	}
	f := &rec.File
	i := slices.Index(f.Holders, d.Holder)
	if i < 0 {
		return fail(refusal(ErrConflict, "%s does not hold file %s", d.Holder, f.ID))
	}
	var start time.Time
	for _, h := range rec.Holdings {
		if h.Holder == d.Holder && h.End.IsZero() {
			start = h.Start
		}
	}
	if e := s.dropEvidence(now, by, d, start); e != nil {
		return fail(e)
	}
	f.Holders = slices.Delete(f.Holders, i, i+1)
	end := now
	if end.After(f.ExpiresAt) {
		end = f.ExpiresAt
	}
	for j := range rec.Holdings {
		if h := &rec.Holdings[j]; h.Holder == d.Holder && h.End.IsZero() {
			h.End = end
			if h.End.Before(h.Start) {
				h.End = h.Start
			}
		}
	}
	if f.State != StateExtensionQuoted {
		f.State = rec.liveState(s.settings.Replicas)
	}
	out := f.clone()
	return Result{File: &out}
}

// applyExpire sweeps what is due at now, from the deadline index (see
// retention.go): open quotes whose time is up close (a new file's lapses:
// listed in Dropped), leases whose term ended expire (listed in Expired),
// and files past their retention are forgotten. Both lists are in creation
// order.
func (s *State) applyExpire(now time.Time) Result {
	var dropped, expired []*fileRecord
	for len(s.due) > 0 && !now.Before(s.due[0].due) {
		s.step(now, s.due[0], &dropped, &expired)
	}
	s.pruneAccruals(now)
	s.compact()
	return Result{Dropped: byCreation(dropped), Expired: byCreation(expired)}
}

// Settings returns the network's settings, and false before Init.
func (s *State) Settings() (Settings, bool) {
	return s.settings, s.initialised
}

// File returns a deep copy of the file with the given id.
func (s *State) File(id string) (File, bool) {
	rec, ok := s.record(id)
	if !ok {
		return File{}, false
	}
	return rec.File.clone(), true
}

// Files is Page without its ok: an unknown cursor gives no files.
func (s *State) Files(after string, limit int) []File {
	files, _ := s.Page(after, limit)
	return files
}

// FileAt returns the file at position i (0 <= i < FileCount) in creation
// order: what a sample of the ledger's files draws from. A position whose
// file was forgotten (until the positions are compacted) gives false.
func (s *State) FileAt(i int) (File, bool) {
	if i < 0 || i >= len(s.files) || s.files[i] == nil {
		return File{}, false
	}
	return s.files[i].File.clone(), true
}

// FileCount returns the number of positions FileAt draws from: the files
// the ledger knows (in every state), and a few it forgot lately.
func (s *State) FileCount() int { return len(s.files) }

// Counts returns the number of file records the ledger keeps (live files
// and tombstones) and of accruals (what reports need of ended leases).
func (s *State) Counts() (files, accruals int) { return len(s.byID), len(s.accruals) }

// Census counts the file records the ledger keeps by state (live files,
// and ended ones until their tombstones are forgotten), and the paid,
// live files with fewer holders recorded than Settings.Replicas: short of
// copies. It reads every record, without copying any.
func (s *State) Census() (byState map[FileState]int, short int) {
	byState = map[FileState]int{}
	for _, rec := range s.byID {
		f := &rec.File
		byState[f.State]++
		if f.Leased() && !f.Ended() && len(f.Holders) < s.settings.Replicas {
			short++
		}
	}
	return byState, short
}

// Payment returns the payment with the given id.
func (s *State) Payment(id string) (Payment, bool) {
	p, ok := s.payments[id]
	return p, ok
}

// Nodes returns the registry ordered by peer id.
func (s *State) Nodes() []Node {
	out := make([]Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		n.PublicKey = bytes.Clone(n.PublicKey)
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.PeerID, b.PeerID) })
	return out
}

// Node returns the registry entry of peerID.
func (s *State) Node(peerID string) (Node, bool) {
	n, ok := s.nodes[peerID]
	if !ok {
		return Node{}, false
	}
	n.PublicKey = bytes.Clone(n.PublicKey)
	return n, true
}

// Totals returns the sum of all successful payments and their number.
func (s *State) Totals() (paid int64, payments int) {
	return s.paid, s.paidCount
}

// Due reports whether an Expire command at now would change anything: a
// lease whose term has ended, an open quote whose time is up, or a record
// past its retention. The node sweeps only then, so an idle network does
// not grow its log. It looks at the heads of the indexes only.
func (s *State) Due(now time.Time) bool {
	return (len(s.due) > 0 && !now.Before(s.due[0].due)) ||
		(len(s.accruals) > 0 && !now.Before(s.accruals[0].End.Add(ReportWindow)))
}

// Storing returns the ids of the paid files issued by issuer whose holders
// are not all recorded yet, in creation order: the files that node must
// still place.
func (s *State) Storing(issuer string) []string {
	var ids []string
	for _, rec := range s.files {
		if rec != nil && rec.File.Issuer == issuer && rec.File.State == StateStoring {
			ids = append(ids, rec.File.ID)
		}
	}
	return ids
}

// Leases returns the ids of the paid, live files (storing, stored or
// extension_quoted) whose holders include peer or that peer issued, in
// creation order: the files that node may have to repair or place.
func (s *State) Leases(peer string) []string {
	var ids []string
	for _, rec := range s.files {
		if rec == nil {
			continue
		}
		f := &rec.File
		switch f.State {
		case StateStoring, StateStored, StateExtensionQuoted:
			if f.Issuer == peer || slices.Contains(f.Holders, peer) {
				ids = append(ids, f.ID)
			}
		}
	}
	return ids
}
