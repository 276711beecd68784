package main

import (
	"context"
	"fmt"

	"github.com/ddsnet/dds/api"
)

type localPaymentsOptions struct {
	node     *nodeOptions
	from, to string
}

func localPaymentsCommand(fs *flagSet) runner { return localPaymentsFlags(fs).run }

func localPaymentsFlags(fs *flagSet) *localPaymentsOptions {
	o := &localPaymentsOptions{node: nodeFlags(fs)}
	fs.Date(&o.from, "from", "first day of the period, yyyymmdd (UTC)")
	fs.Date(&o.to, "to", "last day of the period, yyyymmdd, inclusive")
	return o
}

func (o *localPaymentsOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args); err != nil {
		return err
	}
	if o.from == "" || o.to == "" {
		return usagef("--from and --to are required")
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	lp, err := c.LocalPayments(ctx, o.from, o.to)
	if err != nil {
		return fmt.Errorf("local payments: %w", err)
	}
	if o.node.json {
		return printJSON(a.stdout, api.Document[api.LocalPayment]{Data: api.Resource[api.LocalPayment]{
			Type:       api.TypeLocalPayment,
			ID:         o.from + "-" + o.to,
			Attributes: lp,
			Links:      &api.Links{Self: "/payments/local?from=" + o.from + "&to=" + o.to},
		}})
	}
	out := newFields(a.stdout)
	out.add("period", o.from+" to "+o.to)
	out.add("amount", lp.Amount.String()+" tokens")
	out.add("size", bytesText(lp.Size))
	return out.flush()
}
