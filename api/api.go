package api

import (
	"encoding/json"
	"time"
)

// MediaType is the JSON:API media type used on every document.
const MediaType = "application/vnd.api+json"

// Resource types.
const (
	TypeFile         = "file"
	TypePayment      = "payment"
	TypeRemoval      = "removal"
	TypeLocalPayment = "local_payment"
	TypeAccount      = "account"
	TypeS3Key        = "s3_key"
)

// File states (the `state` attribute).
const (
	StateQuoted          = "quoted"
	StateStoring         = "storing"
	StateStored          = "stored"
	StateExtensionQuoted = "extension_quoted"
	StateExpired         = "expired"
	StateCancelled       = "cancelled"
	StateDeleted         = "deleted" // its owner deleted it (accounts)
)

// Payment statuses.
const (
	PaymentSuccess = "success"
	PaymentError   = "error"
)

// Links are a resource's or a document's links.
type Links struct {
	Self string `json:"self,omitempty"`
	Next string `json:"next,omitempty"`
}

// Resource is a JSON:API resource object with attributes of type A.
type Resource[A any] struct {
	Type       string `json:"type"`
	ID         string `json:"id,omitempty"`
	Attributes A      `json:"attributes"`
	Links      *Links `json:"links,omitempty"`
}

// Document is a JSON:API document whose primary data is one resource.
type Document[A any] struct {
	Data Resource[A] `json:"data"`
}

// ListDocument is a JSON:API document whose primary data is a page of resources.
type ListDocument[A any] struct {
	Data  []Resource[A] `json:"data"`
	Links Links         `json:"links"`
}

// File is the attributes of a file resource as the server sends it.
type File struct {
	Name           string                     `json:"name"`
	Price          Tokens                     `json:"price"`
	Duration       int64                      `json:"duration"`
	Additional     map[string]json.RawMessage `json:"additional,omitempty"`
	CID            string                     `json:"cid"`
	Size           int64                      `json:"size"`
	State          string                     `json:"state"`
	QuoteExpiresAt *time.Time                 `json:"quote_expires_at,omitempty"`
	StoredAt       *time.Time                 `json:"stored_at,omitempty"`
	ExpiresAt      *time.Time                 `json:"expires_at,omitempty"`
	Replicas       []string                   `json:"replicas,omitempty"`
	AttestedBy     []string                   `json:"attested_by,omitempty"`
	CreatedAt      *time.Time                 `json:"created_at,omitempty"`
	// Private: only the owning account's key reads the file (accounts).
	Private bool `json:"private,omitempty"`
}

// FileUpload is the attributes of a POST /files JSON body. Data is the
// file's bytes in standard base64.
type FileUpload struct {
	Name       string                     `json:"name"`
	Data       string                     `json:"data"`
	Duration   int64                      `json:"duration,omitempty"`
	Additional map[string]json.RawMessage `json:"additional,omitempty"`
	// Private and PayFromBalance need an account's API key (accounts).
	Private        bool `json:"private,omitempty"`
	PayFromBalance bool `json:"pay_from_balance,omitempty"`
}

// FilePatch is the attributes of a PATCH /files/{id} body. A key of
// Additional set to JSON null is removed.
type FilePatch struct {
	Duration   *int64                     `json:"duration,omitempty"`
	Additional map[string]json.RawMessage `json:"additional,omitempty"`
}

// Payment is the attributes of a payment resource, in requests and responses.
type Payment struct {
	FileID string `json:"file_id,omitempty"`
	// AccountID, instead of FileID, makes the payment a credit of that
	// account's balance (accounts).
	AccountID string `json:"account_id,omitempty"`
	// FromAccount (responses only) is the account whose balance paid it.
	FromAccount string     `json:"from_account,omitempty"`
	Status      string     `json:"status"`
	Amount      Tokens     `json:"amount"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	// ReceivedBy is the peer id of the node whose API took the payment
	// (responses only): it answers for it in the ledger.
	ReceivedBy string `json:"received_by,omitempty"`
	// ProcessorSignature (requests only) is the payment processor's
	// ed25519 signature of the payment (billing.PaymentAuthorization),
	// base64: required by a network made with a processor key.
	ProcessorSignature []byte `json:"processor_signature,omitempty"`
}

// Account is the attributes of an account resource.
type Account struct {
	Name        string `json:"name"`
	Balance     Tokens `json:"balance"`
	StoredBytes int64  `json:"stored_bytes"`
	Files       int    `json:"files"`
	// Credits is how many credits the account has had: the sequence
	// number the payment processor signs for the next one
	// (billing.CreditAuthorization), where the network needs its signature.
	Credits   int64      `json:"credits"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	// APIKey is in the answer to POST /accounts only: the ledger keeps a
	// key derived from it, never the key.
	APIKey string `json:"api_key,omitempty"`
}

// S3Key is the attributes of an S3 access key (POST /s3-keys): made on
// one node, for the account of the request's API key; the secret is shown
// this once.
type S3Key struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Endpoint        string `json:"endpoint"`
}

// AccountOpen is the attributes of a POST /accounts body.
type AccountOpen struct {
	Name string `json:"name"`
}

// UploadDocument is the answer to an upload paid from an account's
// balance (202): the file resource and, included, its payment.
type UploadDocument struct {
	Data     Resource[File]      `json:"data"`
	Included []Resource[Payment] `json:"included,omitempty"`
}

// Removal is the attributes of a removal request (POST
// /members/{peer_id}/removal): the admission key's signature over the peer
// id and the time of the decision.
type Removal struct {
	At        time.Time `json:"at"`
	Signature []byte    `json:"signature"` // base64 in JSON
}

// LocalPayment is the attributes of a local_payment resource.
type LocalPayment struct {
	Amount Tokens `json:"amount"`
	Size   int64  `json:"size"`
}

// Status is the body of GET /status.
type Status struct {
	Status string `json:"status"` // "up" or "down"
	Reason string `json:"reason,omitempty"`
	// Storage is "ok", or "full" when the node's disk has no room for
	// uploads (answered 507); reads and payments go on, and the node
	// stays "up".
	Storage string `json:"storage,omitempty"`
	Leader  string `json:"leader,omitempty"`
	Index   uint64 `json:"ledger_index,omitempty"`
}

// Health is the body of GET /healthz: the process serves.
type Health struct {
	Status string `json:"status"` // "ok"
}

// Readiness is the body of GET /readyz: whether the node takes writes
// now ("ready"), or why not ("unready", with the reason).
type Readiness struct {
	Status string `json:"status"` // "ready" or "unready"
	Reason string `json:"reason,omitempty"`
	// Behind is how many committed ledger entries the node has not
	// applied yet, as far as it knows.
	Behind uint64 `json:"ledger_behind"`
}

// PriceTable is the network's price settings as GET /info shows them.
type PriceTable struct {
	Rate          Tokens `json:"rate"` // tokens per GiB-month per replica
	MinimumPrice  Tokens `json:"minimum_price"`
	QuoteLifetime int64  `json:"quote_lifetime"` // seconds
	MaxTerm       int64  `json:"max_term"`       // seconds
}

// Member is one node of the billing quorum.
type Member struct {
	PeerID    string `json:"peer_id"`
	PublicKey string `json:"public_key"` // base64 of the raw ed25519 key
	Role      string `json:"role"`       // "voter", "nonvoter" or "registered"
	HTTP      string `json:"http,omitempty"`
}

// Info is the body of GET /info.
type Info struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Version     string     `json:"version"`
	PeerID      string     `json:"peer_id"`
	Addrs       []string   `json:"listen_addrs"`
	Prices      PriceTable `json:"price_table"`
	Replicas    int        `json:"replicas"`
	ChunkSize   int64      `json:"chunk_size"`
	Capacity    int64      `json:"capacity"`
	Free        int64      `json:"free"`
	Stored      int64      `json:"stored"`
	MaxUpload   int64      `json:"max_upload"`
	Dev         bool       `json:"dev"`
	// The network's retention windows, in seconds (spec/api.md,
	// "Retention"): a quote that lapsed unpaid is kept this long after it
	// lapsed, then its id is not found; an expired or cancelled file's
	// tombstone (its id is gone) is kept this long after it ended.
	LapsedQuoteRetention int64    `json:"lapsed_quote_retention"`
	TombstoneRetention   int64    `json:"tombstone_retention"`
	Quorum               []Member `json:"quorum"`
	Threshold            int      `json:"attestation_threshold"`
}
