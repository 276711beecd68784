package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

// nodeOptions are the flags every client command has.
type nodeOptions struct {
	node   string
	json   bool
	apiKey string
}

func nodeFlags(fs *flagSet) *nodeOptions {
	o := &nodeOptions{}
	fs.String(&o.node, "node", "http://127.0.0.1:7070", "URL", "the node's HTTP API")
	fs.Bool(&o.json, "json", "print the JSON document instead of text")
	fs.String(&o.apiKey, "api-key", "", "KEY", "an account's API key: it owns what it uploads, lists its own files, reads its private ones; better in DDS_API_KEY than on the command line")
	return o
}

// client returns a client of the node.
func (o *nodeOptions) client(a *app, opts ...client.Option) (*client.Client, error) {
	all := append([]client.Option{client.WithUserAgent("dds/" + a.version), client.WithAPIKey(o.apiKey)}, a.clientOptions...)
	c, err := client.New(o.node, append(all, opts...)...)
	if err != nil {
		return nil, usagef("--node: %w", err)
	}
	return c, nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// fields writes aligned "name: value" lines.
type fields struct{ tw *tabwriter.Writer }

func newFields(w io.Writer) *fields { return &fields{tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)} }

func (f *fields) add(name string, value any) {
	fmt.Fprintf(f.tw, "%s:\t%v\n", name, value)
}

func (f *fields) time(name string, t *time.Time) {
	if t != nil && !t.IsZero() {
		f.add(name, t.UTC().Format(time.RFC3339))
	}
}

func (f *fields) flush() error { return f.tw.Flush() }

func seconds(n int64) string {
	return fmt.Sprintf("%d s (%s)", n, time.Duration(n)*time.Second)
}

func bytesText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d bytes (%s)", n, formatSize(n))
}

// printFile writes a file resource as text, or as its document in JSON.
func printFile(w io.Writer, asJSON bool, f *client.File) error {
	if asJSON {
		return printJSON(w, f.Document())
	}
	out := newFields(w)
	if err := fileFields(out, f); err != nil {
		return err
	}
	return out.flush()
}

// fileFields adds the file's attributes to out.
func fileFields(out *fields, f *client.File) error {
	out.add("id", f.ID)
	out.add("name", f.Name)
	if f.CID != "" {
		out.add("cid", f.CID)
	}
	out.add("size", bytesText(f.Size))
	out.add("price", f.Price.String()+" tokens")
	out.add("duration", seconds(f.Duration))
	out.add("state", f.State)
	if f.State == api.StateQuoted || f.State == api.StateExtensionQuoted {
		out.time("quote expires", f.QuoteExpiresAt)
	}
	out.time("created", f.CreatedAt)
	// stored_at is when the lease began (its payment): while the copies
	// are being made, "stored" would say what is not yet so.
	if f.State == api.StateStoring {
		out.time("paid", f.StoredAt)
	} else {
		out.time("stored", f.StoredAt)
	}
	out.time("expires", f.ExpiresAt)
	if len(f.Replicas) > 0 {
		out.add("replicas", strings.Join(f.Replicas, ", "))
	}
	if len(f.AttestedBy) > 0 {
		out.add("attested by", strings.Join(f.AttestedBy, ", "))
	}
	if len(f.Additional) > 0 {
		b, err := json.Marshal(f.Additional)
		if err != nil {
			return fmt.Errorf("encode additional: %w", err)
		}
		out.add("additional", string(b))
	}
	return nil
}

// printPayment writes a payment resource as text or JSON.
func printPayment(w io.Writer, asJSON bool, p *client.Payment) error {
	if asJSON {
		return printJSON(w, p.Document())
	}
	out := newFields(w)
	out.add("payment", p.ID)
	if p.AccountID != "" {
		out.add("account", p.AccountID)
	} else {
		out.add("file", p.FileID)
	}
	if p.FromAccount != "" {
		out.add("paid from", "the balance of account "+p.FromAccount)
	}
	out.add("status", p.Status)
	out.add("amount", p.Amount.String()+" tokens")
	out.time("created", p.CreatedAt)
	return out.flush()
}
