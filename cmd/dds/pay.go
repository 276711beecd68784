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
