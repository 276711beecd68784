package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/p2p"
)

// The payment processor's key: a network made with its public half
// (dds daemon --processor-public-key, dds testnet --processor-key) takes
// a payment only with the processor's signature (dds pay and dds put --pay
// sign with --processor-key), so that not even a member can mint one.

const processorKeyHelp = "the payment processor's key (from dds processor-key): signs the payment, which a network made with its public key requires"

type processorKeyOptions struct{}

func processorKeyCommand(fs *flagSet) runner { return (&processorKeyOptions{}).run }

// run makes the key file FILE unless it exists, and prints its public
// key, for the first node's --processor-public-key.
func (o *processorKeyOptions) run(_ context.Context, a *app, args []string) error {
	if err := wantArgs(args, "FILE"); err != nil {
		return err
	}
	pub, err := processorPublicKey(args[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, base64.StdEncoding.EncodeToString(pub))
	return nil
}

// processorPublicKey makes the key file unless it exists and returns its
// public key.
func processorPublicKey(file string) (ed25519.PublicKey, error) {
	key, err := p2p.LoadOrCreateKeyFile(file)
	if err != nil {
		return nil, fmt.Errorf("processor key %s: %w", file, err)
	}
	raw, err := p2p.RawKey(key)
	if err != nil {
		return nil, fmt.Errorf("processor key %s: %w", file, err)
	}
	return raw.Public().(ed25519.PublicKey), nil
}

// parseProcessorPublicKey reads --processor-public-key: 32 bytes, base64.
func parseProcessorPublicKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, usagef("--processor-public-key must be an ed25519 public key in base64 (dds processor-key prints one)")
	}
	return b, nil
}

// loadProcessorKey reads the payment processor's key from --processor-key.
func loadProcessorKey(keyFile string) (ed25519.PrivateKey, error) {
	key, err := p2p.LoadKeyFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--processor-key: %w", err)
	}
	raw, err := p2p.RawKey(key)
	if err != nil {
		return nil, fmt.Errorf("--processor-key: %w", err)
	}
	return raw, nil
}

// processorSignature signs the payment of the file's open quote with the
// key in keyFile ("": no signature): the payment processor's
// authorization of it (billing.PaymentAuthorization), bound to the quote
// by its expiry, which it reads from the node.
func processorSignature(ctx context.Context, c *client.Client, keyFile, fileID, status string, amount api.Tokens) ([]byte, error) {
	if keyFile == "" {
		return nil, nil
	}
	raw, err := loadProcessorKey(keyFile)
	if err != nil {
		return nil, err
	}
	f, err := c.File(ctx, fileID)
	if err != nil {
		return nil, fmt.Errorf("read the quote to sign: %w", err)
	}
	if f.QuoteExpiresAt == nil {
		return nil, fmt.Errorf("file %s has no quote to pay (state %s)", fileID, f.State)
	}
	a := billing.PaymentAuthorization{FileID: fileID, Status: status, Amount: int64(amount), QuoteExpiresAt: *f.QuoteExpiresAt}
	if f.ExpiresAt != nil {
		a.LeaseExpiresAt = *f.ExpiresAt
	}
	return a.Sign(raw), nil
}
