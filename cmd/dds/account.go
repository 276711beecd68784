package main

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/client"
)

type accountOptions struct {
	node           *nodeOptions
	billingToken   string
	amount         api.Tokens
	amountSet      bool
	processorKey   string
	idempotencyKey string
}

func accountCommand(fs *flagSet) runner {
	o := &accountOptions{node: nodeFlags(fs)}
	fs.String(&o.billingToken, "billing-token", "", "TOKEN", "bearer token of the payment processor (create, credit; show of any account); better in DDS_BILLING_TOKEN than on the command line, where ps shows it")
	fs.Tokens(&o.amount, &o.amountSet, "amount", "credit: the amount added to the balance, in tokens (at most 9 decimals)")
	fs.String(&o.processorKey, "processor-key", "", "FILE", "credit: "+processorKeyHelp)
	fs.String(&o.idempotencyKey, "idempotency-key", "", "KEY", "create, credit: the same key never opens or credits twice; default: a new one")
	return o.run
}

// run runs one account subcommand: create NAME, show [ID], credit ID.
func (o *accountOptions) run(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usagef("an account command is needed: create NAME, show [ID] or credit ID")
	}
	key := o.idempotencyKey
	if key == "" {
		key = uuid.NewString()
	}
	switch args[0] {
	case "create":
		if err := wantArgs(args, "create", "NAME"); err != nil {
			return err
		}
		c, err := o.processorClient(a)
		if err != nil {
			return err
		}
		acc, err := c.OpenAccount(ctx, args[1], key)
		if err != nil {
			return fmt.Errorf("open account %q: %w", args[1], err)
		}
		if o.node.json {
			return printJSON(a.stdout, acc.Document())
		}
		out := newFields(a.stdout)
		accountFields(out, acc)
		out.add("api key", acc.APIKey)
		if err := out.flush(); err != nil {
			return err
		}
		fmt.Fprintln(a.stderr, "The API key is shown this once: keep it (dds commands read it from --api-key or DDS_API_KEY).")
		return nil
	case "show":
		id := "me"
		if len(args) > 1 {
			if err := wantArgs(args, "show", "ID"); err != nil {
				return err
			}
			id = args[1]
		}
		var opts []client.Option
		if o.node.apiKey == "" {
			if id == "me" {
				return usagef("account show needs --api-key (or %s), or an ID and --billing-token", envName("api-key"))
			}
			opts = append(opts, client.WithBillingToken(o.billingToken))
		}
		c, err := o.node.client(a, opts...)
		if err != nil {
			return err
		}
		acc, err := c.Account(ctx, id)
		if err != nil {
			return fmt.Errorf("show account: %w", err)
		}
		if o.node.json {
			return printJSON(a.stdout, acc.Document())
		}
		out := newFields(a.stdout)
		accountFields(out, acc)
		return out.flush()
	case "credit":
		if err := wantArgs(args, "credit", "ID"); err != nil {
			return err
		}
		if !o.amountSet {
			return usagef("--amount is required")
		}
		c, err := o.processorClient(a)
		if err != nil {
			return err
		}
		sig, err := creditSignature(ctx, c, o.processorKey, args[1], o.amount)
		if err != nil {
			return fmt.Errorf("credit %s: %w", args[1], err)
		}
		p, err := c.Credit(ctx, args[1], o.amount, key, sig)
		if err != nil {
			return fmt.Errorf("credit %s: %w", args[1], err)
		}
		return printPayment(a.stdout, o.node.json, p)
	}
	return usagef("unknown account command %q (there are: create, show, credit)", args[0])
}

// processorClient is a client with the billing token, which it requires.
func (o *accountOptions) processorClient(a *app) (*client.Client, error) {
	if o.billingToken == "" {
		return nil, usagef("--billing-token is required (or %s)", envName("billing-token"))
	}
	return o.node.client(a, client.WithBillingToken(o.billingToken))
}

// creditSignature is the payment processor's signature of a credit of
// account id (billing.CreditAuthorization: the account's next credit),
// nil without a key file.
func creditSignature(ctx context.Context, c *client.Client, keyFile, id string, amount api.Tokens) ([]byte, error) {
	if keyFile == "" {
		return nil, nil
	}
	raw, err := loadProcessorKey(keyFile)
	if err != nil {
		return nil, err
	}
	acc, err := c.Account(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read the account's credit count to sign: %w", err)
	}
	return billing.CreditAuthorization{AccountID: id, Amount: int64(amount), Seq: acc.Credits}.Sign(raw), nil
}

func accountFields(out *fields, acc *client.Account) {
	out.add("account", acc.ID)
	out.add("name", acc.Name)
	out.add("balance", acc.Balance.String()+" tokens")
	out.add("stored", bytesText(acc.StoredBytes))
	out.add("files", fmt.Sprint(acc.Files))
}

type rmOptions struct{ node *nodeOptions }

func rmCommand(fs *flagSet) runner {
	o := &rmOptions{node: nodeFlags(fs)}
	return o.run
}

// run deletes one of the account's files.
func (o *rmOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args, "ID"); err != nil {
		return err
	}
	if o.node.apiKey == "" {
		return usagef("rm needs the owner's --api-key (or %s)", envName("api-key"))
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	if err := c.Delete(ctx, args[0]); err != nil {
		return fmt.Errorf("delete %s: %w", args[0], err)
	}
	if o.node.json {
		return printJSON(a.stdout, map[string]string{"deleted": args[0]})
	}
	fmt.Fprintf(a.stdout, "deleted %s: its lease ended; unused whole days paid from the balance went back to it\n", args[0])
	return nil
}

type s3KeyOptions struct{ node *nodeOptions }

func s3KeyCommand(fs *flagSet) runner {
	o := &s3KeyOptions{node: nodeFlags(fs)}
	return o.run
}

// run makes an S3 access key on the node for the account of --api-key.
func (o *s3KeyOptions) run(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 && args[0] != "create" {
		return usagef("unknown s3-key command %q (there is: create)", args[0])
	}
	if err := wantArgs(args, "create"); err != nil {
		return err
	}
	if o.node.apiKey == "" {
		return usagef("s3-key create needs the account's --api-key (or %s)", envName("api-key"))
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	k, err := c.CreateS3Key(ctx)
	if err != nil {
		return fmt.Errorf("create s3 key: %w", err)
	}
	if o.node.json {
		return printJSON(a.stdout, k)
	}
	out := newFields(a.stdout)
	out.add("access key id", k.AccessKeyID)
	out.add("secret access key", k.SecretAccessKey)
	out.add("endpoint", k.Endpoint)
	if err := out.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stderr, "The secret is shown this once. For aws-cli: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and --endpoint-url "+k.Endpoint)
	return nil
}
