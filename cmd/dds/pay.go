package main

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

type payOptions struct {
	node           *nodeOptions
	amount         api.Tokens
	amountSet      bool
	status         string
	billingToken   string
	processorKey   string
	idempotencyKey string
	overpay        bool
}

func payCommand(fs *flagSet) runner { return payFlags(fs).run }

func payFlags(fs *flagSet) *payOptions {
	o := &payOptions{node: nodeFlags(fs)}
	fs.Tokens(&o.amount, &o.amountSet, "amount", "the amount paid, in tokens (at most 9 decimals); at least the quoted price")
	fs.Choice(&o.status, "status", api.PaymentSuccess, []string{api.PaymentSuccess, api.PaymentError},
		"the payment's outcome; error cancels the quote")
	fs.String(&o.billingToken, "billing-token", "", "TOKEN", "bearer token of the payment processor; better in DDS_BILLING_TOKEN than on the command line, where ps shows it")
	fs.String(&o.processorKey, "processor-key", "", "FILE", processorKeyHelp)
	fs.String(&o.idempotencyKey, "idempotency-key", "", "KEY", "the same key never pays twice; default: a new one")
	fs.Bool(&o.overpay, "overpay", "pay an --amount above the quoted price (the node keeps all of it); without it, dds refuses")
	return o
}

func (o *payOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args, "ID"); err != nil {
		return err
	}
	if o.status == api.PaymentSuccess && !o.amountSet {
		return usagef("--amount is required")
	}
	if o.billingToken == "" {
		return usagef("--billing-token is required (or %s)", envName("billing-token"))
	}
	c, err := o.node.client(a, client.WithBillingToken(o.billingToken))
	if err != nil {
		return err
	}
	if o.status == api.PaymentSuccess && !o.overpay {
		if err := checkNotOver(ctx, c, args[0], o.amount); err != nil {
			return err
		}
	}
	key := o.idempotencyKey
	if key == "" {
		key = uuid.NewString()
	}
	sig, err := processorSignature(ctx, c, o.processorKey, args[0], o.status, o.amount)
	if err != nil {
		return fmt.Errorf("pay for %s: %w", args[0], err)
	}
	p, err := c.PaySigned(ctx, args[0], o.status, o.amount, key, sig)
	if err != nil {
		return fmt.Errorf("pay for %s: %w", args[0], err)
	}
	return printPayment(a.stdout, o.node.json, p)
}

// checkNotOver refuses an amount above the price of the file's open quote.
// The API takes any amount at least the price (the contract), and keeps
// it all: more is a typo far more often than a gift. A file this client
// cannot read (private) is left to the node.
func checkNotOver(ctx context.Context, c *client.Client, id string, amount api.Tokens) error {
	f, err := c.File(ctx, id)
	if err != nil || f.State != api.StateQuoted && f.State != api.StateExtensionQuoted {
		return nil // the node answers the payment with the precise error
	}
	if amount > f.Price {
		return usagef("--amount %s is more than the price %s of the open quote for %s: pay %s, or add --overpay to pay more on purpose", amount, f.Price, id, f.Price)
	}
	return nil
}
