package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
)

// TestEndToEnd runs a --dev daemon and uses it with the client commands,
// then stops it with SIGINT.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the dds binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := ddsBinary(t)
	const token = "e2e-billing-token"
	d := startDaemon(t, filepath.Join(dir, "data"), "--billing-token", token)
	url := d.url

	run := func(args ...string) string {
		t.Helper()
		stdout, stderr, err := runDDS(t, bin, url, args...)
		if err != nil {
			t.Fatalf("dds %s: %v\nstdout: %s\nstderr: %s\ndaemon: %s", strings.Join(args, " "), err,
				stdout, stderr, d.stderr)
		}
		return stdout
	}

	data := make([]byte, 3<<20+17)
	_, _ = rand.Read(data)
	in := filepath.Join(dir, "in.bin")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var put api.Document[api.File]
	if err := json.Unmarshal([]byte(run("put", in, "--pay", "--billing-token", token, "--duration", "720h", "--json")), &put); err != nil {
		t.Fatal(err)
	}
	id := put.Data.ID
	if put.Data.Attributes.State != api.StateStored || put.Data.Attributes.Size != int64(len(data)) {
		t.Fatalf("put --pay: %+v", put.Data)
	}

	out := filepath.Join(dir, "out.bin")
	run("get", id, "-o", out)
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get -o: %d bytes, equal %v, %v", len(got), bytes.Equal(got, data), err)
	}

	var info api.Document[api.File]
	if err := json.Unmarshal([]byte(run("info", id, "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Data.Attributes.CID != put.Data.Attributes.CID || info.Data.Attributes.State != api.StateStored {
		t.Errorf("info: %+v", info.Data.Attributes)
	}
	// An account: opened and credited by the payment processor, it pays
	// an upload from its balance, lists its own files only, deletes them.
	var acc api.Document[api.Account]
	if err := json.Unmarshal([]byte(run("account", "create", "alice", "--billing-token", token, "--json")), &acc); err != nil {
		t.Fatal(err)
	}
	key := acc.Data.Attributes.APIKey
	if key == "" {
		t.Fatalf("account create: %+v", acc.Data)
	}
	run("account", "credit", acc.Data.ID, "--amount", "5", "--billing-token", token)
	if ls := run("ls", "--api-key", key); strings.Contains(ls, id) {
		t.Errorf("alice's ls lists a file she does not own:\n%s", ls)
	}
	var owned api.Document[api.File]
	if err := json.Unmarshal([]byte(run("put", in, "--api-key", key, "--pay", "--private", "--name", "mine.bin", "--json")), &owned); err != nil {
		t.Fatal(err)
	}
	if owned.Data.Attributes.State != api.StateStored || !owned.Data.Attributes.Private {
		t.Fatalf("put --pay from the balance: %+v", owned.Data.Attributes)
	}
	if ls := run("ls", "--api-key", key, "--state", "stored"); !strings.Contains(ls, owned.Data.ID) {
		t.Errorf("ls does not list %s:\n%s", owned.Data.ID, ls)
	}
	if _, stderr, err := runDDS(t, bin, url, "info", owned.Data.ID); err == nil || !strings.Contains(stderr, "unauthorized") {
		t.Errorf("a private file's info without the key: %v %s", err, stderr)
	}
	if show := run("account", "show", "--api-key", key); !strings.Contains(show, "files:") || !strings.Contains(show, "balance:") {
		t.Errorf("account show:\n%s", show)
	}
	run("rm", owned.Data.ID, "--api-key", key)
	if _, stderr, err := runDDS(t, bin, url, "get", owned.Data.ID, "--api-key", key, "-o", filepath.Join(dir, "gone")); err == nil || !strings.Contains(stderr, "gone") {
		t.Errorf("get after rm: %v %s", err, stderr)
	}
	today := time.Now().UTC().Format("20060102")
	if lp := run("local-payments", "--from", today, "--to", today); !strings.Contains(lp, "amount:") {
		t.Errorf("local-payments:\n%s", lp)
	}
	if st := run("status"); !strings.Contains(st, "status:") || !strings.Contains(st, "up") {
		t.Errorf("status:\n%s", st)
	}

	d.stop(t)
}

// runDDS runs the dds binary with args against the node at url (none:
// ""), with a clean environment, and returns what it printed.
func runDDS(t *testing.T, bin, url string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv("DDS_NODE=" + url)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}
