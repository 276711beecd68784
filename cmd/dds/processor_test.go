package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddsnet/dds/api"
)

// A network made with a payment processor key (dds processor-key, dds
// daemon --processor-public-key) takes a payment only with the
// processor's signature: dds put --pay with the billing token alone is
// refused, and leaves the quote open; dds pay --processor-key pays it.
func TestProcessorKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the dds binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := ddsBinary(t)
	run := func(url string, args ...string) (string, error) {
		t.Helper()
		stdout, stderr, err := runDDS(t, bin, url, args...)
		return stdout + stderr, err
	}
	keyFile := filepath.Join(dir, "processor.key")
	pub, err := run("", "processor-key", keyFile)
	if err != nil {
		t.Fatalf("processor-key: %v\n%s", err, pub)
	}
	again, err := run("", "processor-key", keyFile)
	if err != nil || again != pub {
		t.Fatalf("processor-key again: %q, want %q (%v)", again, pub, err)
	}
	if out, err := run("", "daemon", "--dev", "--data-dir", filepath.Join(dir, "bad"), "--processor-public-key", "AAEC"); err == nil || !strings.Contains(out, "--processor-public-key") {
		t.Fatalf("a bad public key: %v\n%s", err, out)
	}

	const token = "processor-billing-token"
	d := startDaemon(t, filepath.Join(dir, "data"), "--billing-token", token, "--processor-public-key", strings.TrimSpace(pub))
	in := filepath.Join(dir, "in.bin")
	if err := os.WriteFile(in, []byte("paid by the processor"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(d.url, "put", in, "--pay", "--billing-token", token)
	if err == nil || !strings.Contains(out, "payment processor") {
		t.Fatalf("put --pay without the processor's key: %v\n%s", err, out)
	}
	out, err = run(d.url, "put", in, "--json")
	if err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	var put api.Document[api.File]
	if err := json.Unmarshal([]byte(out), &put); err != nil {
		t.Fatal(err)
	}
	f := put.Data
	if out, err := run(d.url, "pay", f.ID, "--amount", f.Attributes.Price.String(), "--billing-token", token, "--processor-key", keyFile); err != nil {
		t.Fatalf("pay --processor-key: %v\n%s", err, out)
	}
	out, err = run(d.url, "put", in, "--pay", "--billing-token", token, "--processor-key", keyFile, "--json")
	if err != nil {
		t.Fatalf("put --pay --processor-key: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &put); err != nil || put.Data.Attributes.State != api.StateStored {
		t.Fatalf("put --pay --processor-key: %s (%v)", out, err)
	}
	d.stop(t)
}
