package billing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// FileState is the life-cycle state of a file in the ledger.
type FileState string

// The states of a file (the API's `state` attribute).
const (
	StateQuoted          FileState = "quoted"           // a new quote is open, not yet paid
	StateStoring         FileState = "storing"          // paid; not all holders recorded yet
	StateStored          FileState = "stored"           // paid; Replicas holders recorded
	StateExtensionQuoted FileState = "extension_quoted" // paid and live, an extension quote is open
	StateExpired         FileState = "expired"          // the term ended, or the new quote expired unpaid
	StateCancelled       FileState = "cancelled"        // the new quote's payment failed
	StateDeleted         FileState = "deleted"          // its owner deleted it (Delete)
)

// File is the ledger's record of one uploaded file.
type File struct {
	ID             string                     `json:"id"`
	Name           string                     `json:"name"`
	CID            string                     `json:"cid"`
	Size           int64                      `json:"size"`
	Additional     map[string]json.RawMessage `json:"additional,omitempty"`
	State          FileState                  `json:"state"`
	Duration       int64                      `json:"duration"`         // current paid term in seconds (the quoted one while state is quoted)
	Price          int64                      `json:"price"`            // price of the open quote, else of the last paid quote
	Quote          *Quote                     `json:"quote,omitempty"`  // the open quote (nil when none is open)
	QuoteExpiresAt time.Time                  `json:"quote_expires_at"` // of the open or last paid quote
	AttestedBy     []string                   `json:"attested_by,omitempty"`
	CreatedAt      time.Time                  `json:"created_at"`
	StoredAt       time.Time                  `json:"stored_at,omitzero"`  // lease start (zero until paid)
	ExpiresAt      time.Time                  `json:"expires_at,omitzero"` // lease end = StoredAt + Duration (zero until paid)
	Holders        []string                   `json:"holders,omitempty"`   // peer ids recorded with receipts
	Paid           int64                      `json:"paid"`                // total nanotokens paid for this file
	Issuer         string                     `json:"issuer"`
	Owner          string                     `json:"owner,omitempty"`   // the account that owns it ("" for none)
	Private        bool                       `json:"private,omitempty"` // only its owner's key reads it
	Rev            int64                      `json:"rev,omitempty"`     // updates applied so far (an owner's update consents to one revision)
}

// Ended reports whether f's lease or quote is over for good: expired,
// cancelled or deleted.
func (f File) Ended() bool {
	return f.State == StateExpired || f.State == StateCancelled || f.State == StateDeleted
}

// Leased reports whether f has a paid lease (running or ended).
func (f File) Leased() bool { return !f.StoredAt.IsZero() }

// Placing reports whether f is paid and live with fewer than replicas
// holders: its copies are still being placed, and the node that took the
// upload keeps its staged bytes meanwhile. That is state storing, and also
// extension_quoted when the extension was quoted before the copies were
// all placed (the state then says the open quote, not the copies).
func (f File) Placing(replicas int) bool {
	switch f.State {
	case StateStoring:
		return true
	case StateExtensionQuoted:
		return len(f.Holders) < replicas
	}
	return false
}

// clone returns a deep copy of f.
func (f File) clone() File {
	if f.Additional != nil {
		m := make(map[string]json.RawMessage, len(f.Additional))
		for k, v := range f.Additional {
			m[k] = bytes.Clone(v)
		}
		f.Additional = m
	}
	if f.Quote != nil {
		q := *f.Quote
		f.Quote = &q
	}
	f.AttestedBy = cloneStrings(f.AttestedBy)
	f.Holders = cloneStrings(f.Holders)
	return f
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// Payment statuses.
const (
	PaymentSuccess = "success"
	PaymentError   = "error"
)

// Payment is a payment recorded by the ledger.
type Payment struct {
	ID     string    `json:"id"`
	FileID string    `json:"file_id"`
	Status string    `json:"status"` // "success" | "error"
	Amount int64     `json:"amount"`
	Kind   QuoteKind `json:"kind"`
	At     time.Time `json:"at"`
	// ReceivedBy is the member whose API took the payment.
	ReceivedBy string `json:"received_by,omitempty"`
	// AccountID is the account a credit (Kind KindCredit) credited.
	AccountID string `json:"account_id,omitempty"`
	// FromAccount is the account whose balance paid the quote.
	FromAccount string `json:"from_account,omitempty"`
}

// Command is one change to the ledger. Exactly one pointer field is set.
// Every command carries the time it was issued (the issuing node's clock);
// the state machine uses only that time.
//
// Every command is signed by the member that proposes it (By): Sign
// signs it, and every replica checks the signature as it applies it
// (State.Apply), with the key the registry holds for By (for Init and
// Register, the key By's peer id carries). A command's authority is its
// proposer's, never the leader's that appended it.
type Command struct {
	Time     time.Time    `json:"time"`
	By       string       `json:"by"`                 // peer id of the member that proposed and signed it
	Init     *Init        `json:"init,omitempty"`     // genesis: settings; refused once initialised
	Register *Register    `json:"register,omitempty"` // add/update a node in the registry
	Quote    *PutQuote    `json:"quote,omitempty"`    // record a new or extension quote with attestations
	Pay      *Pay         `json:"pay,omitempty"`
	Update   *Update      `json:"update,omitempty"`       // merge additional (null removes a key)
	Hold     *Hold        `json:"hold,omitempty"`         // record holders with receipts -> stored
	Drop     *Drop        `json:"drop,omitempty"`         // a holder is gone: end its holding (repair places a new one)
	Expire   *Expire      `json:"expire,omitempty"`       // sweep: leases and quotes whose time is up
	Admit    *Admit       `json:"admit,omitempty"`        // a node joins with an invite of the admission key
	Remove   *Remove      `json:"remove,omitempty"`       // the admission key ends a membership
	Open     *OpenAccount `json:"open_account,omitempty"` // a member opens an account
	Delete   *Delete      `json:"delete,omitempty"`       // an owner deletes its file

	MakeBucket    *MakeBucket    `json:"make_bucket,omitempty"`
	DropBucket    *DropBucket    `json:"drop_bucket,omitempty"`
	PutObject     *PutObject     `json:"put_object,omitempty"`
	DeleteObjects *DeleteObjects `json:"delete_objects,omitempty"`

	// Sig is By's ed25519 signature of the command's body (see Message);
	// it travels beside the body, not in it.
	Sig []byte `json:"-"`
	// signed is what Sig signs, commandDomain then the encoded body: set
	// by Sign and by DecodeCommand (the body's bytes exactly as they
	// came), so a replica checks the signature over the bytes the proposer
	// signed, never a re-encoding of them.
	signed []byte
}

// commandDomain opens the message a command's signature signs, so that no
// other signature a member makes (attestations, receipts) can pass for one.
const commandDomain = "dds-command-v1\n"

// envelope is a command on the wire and in the log: the signed body and
// its signature.
type envelope struct {
	Command json.RawMessage `json:"command"`
	Sig     []byte          `json:"sig"`
}

// Sign returns c proposed by by (a peer id) and signed with its key:
// By set, its body encoded and Sig made over Message.
func (c Command) Sign(by string, key ed25519.PrivateKey) (Command, error) {
	msg, err := c.Message(by)
	if err != nil {
		return Command{}, err
	}
	c.By, c.Sig, c.signed = by, ed25519.Sign(key, msg), msg
	return c, nil
}

// Message returns what the proposer by signs for c: a domain separator
// and c's body with By set. It is for signers whose key is not an
// ed25519.PrivateKey at hand (a node signs with its host's key); pass the
// signature to WithSig.
func (c Command) Message(by string) ([]byte, error) {
	if n, _ := c.kinds(); n != 1 {
		return nil, fmt.Errorf("sign command: %d kinds set, want exactly 1", n)
	}
	c.By, c.Sig, c.signed = by, nil, nil
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("sign command: %w", err)
	}
	return append([]byte(commandDomain), b...), nil
}

// WithSig returns c as proposed by by with sig, its signature of msg (from
// c.Message(by)).
func (c Command) WithSig(by string, msg, sig []byte) Command {
	c.By, c.Sig, c.signed = by, sig, msg
	return c
}

// message is what c's signature signs (nil when c was neither signed nor
// decoded).
func (c Command) message() []byte { return c.signed }

// Init fixes the network's settings and its admission key, and admits the
// founder, the node that makes the network; the first command of a ledger.
type Init struct {
	Settings     Settings `json:"settings"`
	AdmissionKey []byte   `json:"admission_key"` // raw ed25519 public key: signs invites and removals
	Founder      string   `json:"founder"`       // peer id of the first member
	// ProcessorKey, when set, is the payment processor's raw ed25519
	// public key: every payment then needs its signature.
	ProcessorKey []byte `json:"processor_key,omitempty"`
}

// Register adds a node to the registry, or updates its HTTP address.
type Register struct {
	Node Node `json:"node"`
}

// PutQuote records a quote with its attestations.
type PutQuote struct {
	Quote        Quote                      `json:"quote"`
	Additional   map[string]json.RawMessage `json:"additional,omitempty"`
	Attestations []Attestation              `json:"attestations"`
	// Owner, on a new quote, is the consent of the account that owns the
	// upload (OwnMessage); Private needs it.
	Owner   *AccountAuth `json:"owner,omitempty"`
	Private bool         `json:"private,omitempty"`
}

// Pay records a payment processed by the payment processor, as the member
// whose HTTP API took it (with its billing token) reports it.
type Pay struct {
	PaymentID  string `json:"payment_id"`
	FileID     string `json:"file_id"`
	Status     string `json:"status"`
	Amount     int64  `json:"amount"`
	ReceivedBy string `json:"received_by"` // the member that took the payment: it answers for it
	// ProcessorSig is the payment processor's signature of the payment's
	// PaymentAuthorization: required when the network has a processor key.
	ProcessorSig []byte `json:"processor_signature,omitempty"`
	// AccountID, instead of FileID, makes the payment a credit of that
	// account's balance (with the processor's CreditAuthorization when the
	// network has a processor key).
	AccountID string `json:"account_id,omitempty"`
	// From pays the file's open quote from that account's balance, with
	// its consent (PayMessage): Amount is the price exactly; no processor
	// signature is needed (no money comes in).
	From *AccountAuth `json:"from,omitempty"`
}

// Update merges additional attributes into a file; a null value deletes a key.
type Update struct {
	FileID     string                     `json:"file_id"`
	Additional map[string]json.RawMessage `json:"additional"`
	// Auth is the owner's consent (UpdateMessage at revision Rev), needed
	// when the file has an owner.
	Auth *AccountAuth `json:"auth,omitempty"`
	Rev  int64        `json:"rev,omitempty"`
}

// Hold records holders of a paid file, each with its signed receipt.
type Hold struct {
	FileID   string    `json:"file_id"`
	Receipts []Receipt `json:"receipts"`
}

// Drop ends a holder's holding of a file: the holder is gone (silent past
// a timeout, or failing audits), or releases it. The file goes back to
// storing until a new holder's receipt is recorded. Unless the holder
// proposes it or is no longer a member, it needs the reports of members
// that saw the holder fail (see MinFailureReports).
type Drop struct {
	FileID  string          `json:"file_id"`
	Holder  string          `json:"holder"`
	Reports []FailureReport `json:"reports,omitempty"`
}

// Expire sweeps leases and quotes whose time is up.
type Expire struct{}

// kinds returns the number of kinds set and the name of the last one.
func (c Command) kinds() (int, string) {
	n, name := 0, ""
	for _, k := range []struct {
		set  bool
		name string
	}{
		{c.Init != nil, "init"}, {c.Register != nil, "register"}, {c.Quote != nil, "quote"},
		{c.Pay != nil, "pay"}, {c.Update != nil, "update"}, {c.Hold != nil, "hold"},
		{c.Drop != nil, "drop"}, {c.Expire != nil, "expire"},
		{c.Admit != nil, "admit"}, {c.Remove != nil, "remove"},
		{c.Open != nil, "open_account"}, {c.Delete != nil, "delete"},
		{c.MakeBucket != nil, "make_bucket"}, {c.DropBucket != nil, "drop_bucket"},
		{c.PutObject != nil, "put_object"}, {c.DeleteObjects != nil, "delete_objects"},
	} {
		if k.set {
			n++
			name = k.name
		}
	}
	return n, name
}

// Kind names the command's kind ("init", "pay", ...), or "" when not exactly
// one kind is set. For logs and metrics.
func (c Command) Kind() string {
	n, name := c.kinds()
	if n != 1 {
		return ""
	}
	return name
}

// Encode returns c as JSON: its body (as signed, when c is) and its
// signature. The same command always gives the same bytes. An unsigned
// command encodes too (with no signature; every replica refuses it).
func (c Command) Encode() ([]byte, error) {
	if n, _ := c.kinds(); n != 1 {
		return nil, fmt.Errorf("encode command: %d kinds set, want exactly 1", n)
	}
	var body []byte
	if len(c.signed) > len(commandDomain) {
		body = c.signed[len(commandDomain):]
	} else {
		c.Sig = nil
		b, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("encode command: %w", err)
		}
		body = b
	}
	b, err := json.Marshal(envelope{Command: body, Sig: c.Sig})
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	return b, nil
}

// DecodeCommand decodes bytes made by Command.Encode. It is strict: unknown
// fields, trailing data, a missing time or anything but exactly one kind are
// errors. It does not check the signature (State.Apply does).
func DecodeCommand(b []byte) (Command, error) {
	var env envelope
	if err := decodeStrict(b, &env); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	if len(env.Command) == 0 {
		return Command{}, errors.New("decode command: no command")
	}
	var c Command
	if err := decodeStrict(env.Command, &c); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	if n, _ := c.kinds(); n != 1 {
		return Command{}, fmt.Errorf("decode command: %d kinds set, want exactly 1", n)
	}
	if c.Time.IsZero() {
		return Command{}, errors.New("decode command: no time")
	}
	c.Sig = env.Sig
	c.signed = append(append(make([]byte, 0, len(commandDomain)+len(env.Command)), commandDomain...), env.Command...)
	return c, nil
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// Result is the outcome of applying one command.
type Result struct {
	Err     *Error   `json:"error,omitempty"`
	File    *File    `json:"file,omitempty"`
	Payment *Payment `json:"payment,omitempty"`
	Account *Account `json:"account,omitempty"`
	Object  *Object  `json:"object,omitempty"`  // the object a PutObject put
	Expired []string `json:"expired,omitempty"` // file ids whose lease ended (unpin them)
	Dropped []string `json:"dropped,omitempty"` // file ids whose unpaid quote ended (drop staged data)
}

// Refusal returns r.Err as an error, or nil (an untyped nil) when the command
// was applied.
func (r Result) Refusal() error {
	if r.Err == nil {
		return nil
	}
	return r.Err
}

// Encode returns r as JSON.
func (r Result) Encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// Every value the ledger builds encodes; keep the answer well-formed anyway.
		b, _ = json.Marshal(Result{Err: &Error{Code: codeInternal, Message: "encode result: " + err.Error()}})
	}
	return b
}

// DecodeResult decodes bytes made by Result.Encode.
func DecodeResult(b []byte) (Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, fmt.Errorf("decode result: %w", err)
	}
	return r, nil
}
