package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors the node's operations return; node/httpapi maps each to its HTTP
// status and error code in one place.
var (
	ErrNotFound        = errors.New("not found")
	ErrPaymentRequired = errors.New("payment required")
	ErrGone            = errors.New("gone")
	ErrUnavailable     = errors.New("unavailable")
	ErrTooLarge        = errors.New("too large")
	ErrConflict        = errors.New("conflict")
	ErrAlreadyPaid     = errors.New("already paid")
	ErrQuoteExpired    = errors.New("quote expired")
	ErrAmountTooLow    = errors.New("amount too low")
	ErrInvalid         = errors.New("invalid")
	ErrForbidden       = errors.New("forbidden")
	// ErrUnauthorized: an account's API key is needed and none, or an
	// unknown one, was given.
	ErrUnauthorized = errors.New("unauthorized")
	ErrClosed       = errors.New("node closed")
	// ErrInsufficientStorage: the node's disk (or its capacity) has no
	// room for the upload; another node, or this one later, may have.
	ErrInsufficientStorage = errors.New("insufficient storage")
)

// FieldError is an invalid value in a request: Pointer is the JSON pointer
// of the field (for example "/data/attributes/duration") and Code an API
// error code (api.CodeInvalidValue, api.CodeTooLong, ...). It wraps
// [ErrInvalid].
type FieldError struct {
	Pointer string
	Code    string
	Detail  string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Pointer, e.Detail) }
func (e *FieldError) Unwrap() error { return ErrInvalid }

// File is a file as the node reports it: its resource attributes, from the
// replicated ledger.
type File struct {
	ID             string
	Name           string
	CID            string
	Size           int64
	Additional     map[string]json.RawMessage
	State          string // api.StateQuoted, api.StateStoring, ...
	Duration       int64  // the term in seconds (the quoted one while quoted)
	Price          int64  // nanotokens: the open quote's, else the last paid one's
	QuoteExpiresAt time.Time
	CreatedAt      time.Time
	StoredAt       time.Time // zero until paid
	ExpiresAt      time.Time // zero until paid
	Replicas       []string  // peer ids of the holders
	AttestedBy     []string  // peer ids that signed the open or last quote
	Owner          string    // the owning account ("" for none)
	Private        bool      // only the owner reads it
}

// Upload is a request to store a new file. Body streams the bytes; the node
// never holds them whole.
type Upload struct {
	Name       string
	Duration   int64 // seconds; 0 means the default term
	Additional map[string]json.RawMessage
	Body       io.Reader
	// MinSize is a size the file is known to reach (from the request's
	// Content-Length; 0 when unknown): an upload that cannot fit is
	// refused before its bytes are read.
	MinSize int64
	// Owner, when set, makes the account the file's owner (with its
	// consent, signed with its key); Private then keeps the file from
	// anyone but the owner.
	Owner   Caller
	Private bool
}

// Caller is who makes a request: the account its API key authenticated
// (see Node.Authenticate), with the key, which the node needs to sign the
// account's consent to what it proposes; or nobody (zero).
type Caller struct {
	Account string
	APIKey  string
}

// Account is an account as the node reports it.
type Account struct {
	ID          string
	Name        string
	Balance     int64 // nanotokens
	Credits     int64 // credits so far: the sequence number the processor signs for the next
	StoredBytes int64 // bytes of its live leases
	Files       int   // its files that have not ended
	OpenedAt    time.Time
}

// Patch changes a file: a longer term (answered with a quote) and/or
// additional attributes merged in (a JSON null value removes the key).
type Patch struct {
	Duration   *int64
	Additional map[string]json.RawMessage
	// By is who asks: a change of additional to a file with an owner
	// needs the owner (its consent is signed with its key).
	By Caller
}

// PaymentRequest is a payment reported by the payment processor.
type PaymentRequest struct {
	FileID string
	// AccountID, instead of FileID, credits that account's balance.
	AccountID string
	Status    string // api.PaymentSuccess or api.PaymentError
	Amount    int64  // nanotokens
	// ProcessorSignature is the payment processor's signature of the
	// payment (billing.PaymentAuthorization): required by a network made
	// with a processor key.
	ProcessorSignature []byte
}

// Payment is a recorded payment.
type Payment struct {
	ID         string
	FileID     string
	Status     string
	Amount     int64
	CreatedAt  time.Time
	ReceivedBy string // the peer id of the node whose API took it
	AccountID  string // the account a credit credited
	// FromAccount is the account whose balance paid it.
	FromAccount string
}

// LocalReport is what is due to this node over a range of days.
type LocalReport struct {
	From, To time.Time // whole UTC days, inclusive
	Amount   int64     // nanotokens
	Size     int64     // bytes: the largest daily figure held
}

// Status says whether the node can serve writes now.
type Status struct {
	Up     bool
	Reason string // why not, when down
	// DiskFull: the data dir's file system has no room left for chunks;
	// the node refuses uploads (reads, payments and the ledger go on).
	DiskFull bool
	Leader   string
	Index    uint64 // last applied ledger index
	// Behind is how many ledger entries the network has committed that
	// this node has not applied yet, as far as it knows (the leader's
	// commit index it heard, the live peers' indexes on the feed).
	Behind uint64
}
