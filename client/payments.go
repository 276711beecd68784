package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ddsnet/dds/api"
)

// Payment is a payment resource: its id and its attributes.
type Payment struct {
	ID string
	api.Payment
}

// Document is p as the JSON:API document the server sends.
func (p *Payment) Document() api.Document[api.Payment] {
	return api.Document[api.Payment]{Data: api.Resource[api.Payment]{
		Type:       api.TypePayment,
		ID:         p.ID,
		Attributes: p.Payment,
		Links:      &api.Links{Self: "/payments/" + escape(p.ID)},
	}}
}

// Pay reports a processed payment for the file's open quote (POST
// /payments): status is api.PaymentSuccess with an amount of at least the
// quoted price, or api.PaymentError to cancel the quote. It sends the
// billing token ([WithBillingToken]) and, when not empty, the idempotency
// key, so a retried call never pays twice.
func (c *Client) Pay(ctx context.Context, fileID string, status string, amount api.Tokens, idempotencyKey string) (*Payment, error) {
	return c.PaySigned(ctx, fileID, status, amount, idempotencyKey, nil)
}

// PaySigned is Pay with the payment processor's signature of the payment
// (billing.PaymentAuthorization), which a network made with a processor
// key requires.
func (c *Client) PaySigned(ctx context.Context, fileID string, status string, amount api.Tokens, idempotencyKey string, processorSig []byte) (*Payment, error) {
	body, n, err := jsonBody(api.Document[api.Payment]{Data: api.Resource[api.Payment]{
		Type:       api.TypePayment,
		Attributes: api.Payment{FileID: fileID, Status: status, Amount: amount, ProcessorSignature: processorSig},
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

// Payment returns a recorded payment (GET /payments/{id}).
func (c *Client) Payment(ctx context.Context, id string) (*Payment, error) {
	return c.paymentCall(ctx, request{method: http.MethodGet, path: "/payments/" + escape(id)})
}

func (c *Client) paymentCall(ctx context.Context, r request) (*Payment, error) {
	var doc api.Document[api.Payment]
	if _, err := c.call(ctx, r, &doc); err != nil {
		return nil, err
	}
	if doc.Data.ID == "" {
		return nil, fmt.Errorf("%s %s: %w: payment resource without id", r.method, r.path, ErrBadResponse)
	}
	return &Payment{ID: doc.Data.ID, Payment: doc.Data.Attributes}, nil
}

// LocalPayments returns what is due to the node for the days from to to
// inclusive, both as yyyymmdd (GET /payments/local).
func (c *Client) LocalPayments(ctx context.Context, from, to string) (api.LocalPayment, error) {
	var doc api.Document[api.LocalPayment]
	r := request{method: http.MethodGet, path: "/payments/local", query: url.Values{"from": {from}, "to": {to}}}
	if _, err := c.call(ctx, r, &doc); err != nil {
		return api.LocalPayment{}, err
	}
	return doc.Data.Attributes, nil
}
