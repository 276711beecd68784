package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ddsnet/dds/api"
)

// Account is an account resource: its id and its attributes (APIKey only
// in the answer to OpenAccount).
type Account struct {
	ID string
	api.Account
}

// Document is a as the JSON:API document the server sends.
func (a *Account) Document() api.Document[api.Account] {
	return api.Document[api.Account]{Data: api.Resource[api.Account]{
		Type: api.TypeAccount, ID: a.ID, Attributes: a.Account, Links: &api.Links{Self: "/accounts/" + escape(a.ID)},
	}}
}

// OpenAccount opens an account for a customer of the payment processor
// (POST /accounts, with the billing token): the answer carries its API
// key, which is shown this once.
func (c *Client) OpenAccount(ctx context.Context, name, idempotencyKey string) (*Account, error) {
	body, n, err := jsonBody(api.Document[api.AccountOpen]{Data: api.Resource[api.AccountOpen]{
		Type: api.TypeAccount, Attributes: api.AccountOpen{Name: name},
	}})
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	return c.accountCall(ctx, request{method: http.MethodPost, path: "/accounts", body: body, length: n,
		ctype: api.MediaType, header: h, billing: true})
}

// Account returns an account (GET /accounts/{id}), with the client's API
// key, or its billing token when it has no key; id "me" is the key's own
// account.
func (c *Client) Account(ctx context.Context, id string) (*Account, error) {
	return c.accountCall(ctx, request{method: http.MethodGet, path: "/accounts/" + escape(id), billing: c.apiKey == ""})
}

func (c *Client) accountCall(ctx context.Context, r request) (*Account, error) {
	var doc api.Document[api.Account]
	if _, err := c.call(ctx, r, &doc); err != nil {
		return nil, err
	}
	if doc.Data.ID == "" {
		return nil, fmt.Errorf("%s %s: %w: account resource without id", r.method, r.path, ErrBadResponse)
	}
	return &Account{ID: doc.Data.ID, Account: doc.Data.Attributes}, nil
}

// Credit reports a payment that credits an account's balance (POST
// /payments with account_id, billing token). processorSig is the payment
// processor's signature (billing.CreditAuthorization) where the network
// needs one, else nil.
func (c *Client) Credit(ctx context.Context, accountID string, amount api.Tokens, idempotencyKey string, processorSig []byte) (*Payment, error) {
	body, n, err := jsonBody(api.Document[api.Payment]{Data: api.Resource[api.Payment]{
		Type:       api.TypePayment,
		Attributes: api.Payment{AccountID: accountID, Status: api.PaymentSuccess, Amount: amount, ProcessorSignature: processorSig},
	}})
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	return c.paymentCall(ctx, request{method: http.MethodPost, path: "/payments", body: body,
		length: n, ctype: api.MediaType, header: h, billing: true})
}

// CreateS3Key makes an S3 access key for the client's account (its API
// key) on the node; the secret is in this answer only.
func (c *Client) CreateS3Key(ctx context.Context) (api.S3Key, error) {
	var doc api.Document[api.S3Key]
	if _, err := c.call(ctx, request{method: http.MethodPost, path: "/s3-keys"}, &doc); err != nil {
		return api.S3Key{}, err
	}
	if doc.Data.Attributes.AccessKeyID == "" {
		return api.S3Key{}, fmt.Errorf("POST /s3-keys: %w: no access key id", ErrBadResponse)
	}
	return doc.Data.Attributes, nil
}

// Delete deletes one of the account's files (DELETE /files/{id}, with the
// client's API key): its lease ends now.
func (c *Client) Delete(ctx context.Context, id string) error {
	_, err := c.call(ctx, request{method: http.MethodDelete, path: "/files/" + escape(id)}, nil)
	return err
}
