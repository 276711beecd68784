package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

type putOptions struct {
	node         *nodeOptions
	duration     int64
	name         string
	additional   map[string]json.RawMessage
	pay          bool
	billingToken string
	processorKey string
	wait         time.Duration
	private      bool
}

func putCommand(fs *flagSet) runner { return putFlags(fs).run }

func putFlags(fs *flagSet) *putOptions {
	o := &putOptions{node: nodeFlags(fs)}
	fs.Seconds(&o.duration, "duration", 0, "storage term: a Go duration (720h) or whole seconds; none: the node's default (a month)")
	fs.String(&o.name, "name", "", "NAME", "the file's name; default: FILE's base name")
	fs.Var(objectValue{&o.additional}, "additional", "JSON", "", "additional attributes, a JSON object")
	fs.Bool(&o.pay, "pay", "pay the quoted price and wait until the file is stored: from the account's balance with --api-key and no billing token")
	fs.Bool(&o.private, "private", "only the account reads the file (with --api-key)")
	fs.String(&o.billingToken, "billing-token", "", "TOKEN", "bearer token for the payment (with --pay); better in DDS_BILLING_TOKEN than on the command line, where ps shows it")
	fs.String(&o.processorKey, "processor-key", "", "FILE", processorKeyHelp+" (with --pay)")
	fs.Duration(&o.wait, "wait-timeout", 30*time.Minute, "with --pay, how long to wait until the file is stored")
	return o
}

func (o *putOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args, "FILE"); err != nil {
		return err
	}
	fromBalance := o.pay && o.billingToken == "" && o.node.apiKey != ""
	if o.pay && o.billingToken == "" && !fromBalance {
		return usagef("--pay needs --billing-token (or %s), or an account's --api-key (or %s) to pay from its balance", envName("billing-token"), envName("api-key"))
	}
	if o.private && o.node.apiKey == "" {
		return usagef("--private needs an account's --api-key (or %s)", envName("api-key"))
	}
	c, err := o.node.client(a, client.WithBillingToken(o.billingToken))
	if err != nil {
		return err
	}
	path := args[0]
	var r io.Reader
	size := int64(-1)
	name := o.name
	if path == "-" {
		if name == "" {
			return usagef("--name is needed to upload stdin")
		}
		r = a.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open upload: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("open upload: %w", err)
		}
		if st.IsDir() {
			return usagef("%s is a directory: dds put uploads one file (a directory as one archive: tar c %s | dds put - --name NAME.tar)", path, path)
		}
		if st.Mode().IsRegular() {
			size = st.Size()
		}
		if name == "" {
			name = filepath.Base(path)
		}
		r = f
	}

	bar := a.byteBar(size, "uploading")
	file, err := c.Upload(ctx, withBar(r, bar), client.UploadOptions{
		Name: name, Duration: o.duration, Additional: o.additional, Size: size,
		Private: o.private, PayFromBalance: fromBalance,
	})
	finish(bar, err == nil)
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	if !o.pay {
		return printFile(a.stdout, o.node.json, file)
	}

	p := file.Payment
	if fromBalance && p == nil {
		if err := printFile(a.stdout, o.node.json, file); err != nil {
			return err
		}
		return fmt.Errorf("file %s is uploaded but not paid: the account's balance is below its price (%s tokens)", file.ID, file.Price)
	}
	if p == nil {
		sig, err := processorSignature(ctx, c, o.processorKey, file.ID, api.PaymentSuccess, file.Price)
		if err == nil {
			p, err = c.PaySigned(ctx, file.ID, api.PaymentSuccess, file.Price, uuid.NewString(), sig)
		}
		if err != nil {
			// The upload stands and its quote is open: the id is all the
			// user needs to pay it later, rather than upload again.
			if perr := printFile(a.stdout, o.node.json, file); perr != nil {
				return perr
			}
			return &hintError{fmt.Errorf("pay for %s: %w", file.ID, err), payLater(file)}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, o.wait)
	defer cancel()
	spin := a.spinner("paid " + p.Amount.String() + " tokens; storing")
	stored, err := c.WaitState(wctx, file.ID, func(f *client.File) {
		if spin != nil {
			spin.Describe("state " + f.State)
			_ = spin.Add(1)
		}
	}, api.StateStored)
	finish(spin, err == nil)
	if err != nil {
		return fmt.Errorf("file %s is paid (payment %s) but: %w (dds info %s shows its state)", file.ID, p.ID, err, file.ID)
	}
	if o.node.json {
		return printFile(a.stdout, true, stored)
	}
	out := newFields(a.stdout)
	if err := fileFields(out, stored); err != nil {
		return err
	}
	out.add("payment", p.ID)
	return out.flush()
}

// payLater says how to pay an uploaded file whose payment failed.
func payLater(f *client.File) string {
	s := "the file " + f.ID + " is uploaded and not paid: pay it with dds pay " + f.ID + " --amount " + f.Price.String()
	if f.QuoteExpiresAt != nil {
		s += " before its quote expires at " + f.QuoteExpiresAt.UTC().Format(time.RFC3339)
	}
	return s
}
