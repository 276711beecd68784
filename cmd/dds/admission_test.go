package main

import (
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/internal/apitest"
	"github.com/ddsnet/dds/p2p"
)

// admissionKeyFile makes an admission key in a file of the test's.
func admissionKeyFile(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	path := filepath.Join(t.TempDir(), p2p.AdmissionKeyFile)
	key, err := p2p.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p2p.RawKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return path, raw
}

// newPeerID is the peer id of a new identity key.
func newPeerID(t *testing.T) string {
	t.Helper()
	ident, err := p2p.LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.IDFromPrivateKey(ident)
	if err != nil {
		t.Fatal(err)
	}
	return pid.String()
}

// TestMemberRemove: dds member remove signs a removal of PEER_ID with the
// admission key, at about now, and posts it to the node; the node's
// refusal, a bad peer id, a missing key and another subcommand are errors.
func TestMemberRemove(t *testing.T) {
	f := apitest.NewNode(t)
	keyFile, raw := admissionKeyFile(t)
	id := newPeerID(t)
	before := time.Now()
	r := dds(t, f, nil, "member", "remove", id, "--admission-key", keyFile).ok(t)
	if !strings.Contains(r.stdout, "removed "+id) {
		t.Fatalf("stdout %q", r.stdout)
	}
	got, ok := f.Removals[id]
	if !ok {
		t.Fatalf("the node got no removal of %s: %v", id, f.Requests)
	}
	removal := billing.Removal{PeerID: id, At: got.At, Signature: got.Signature}
	if !ed25519.Verify(raw.Public().(ed25519.PublicKey), removal.Canonical(), removal.Signature) {
		t.Fatal("the removal is not signed by the admission key")
	}
	if got.At.Before(before.Add(-time.Second)) || got.At.After(time.Now()) {
		t.Fatalf("removal at %v", got.At)
	}
	stranger := newPeerID(t)
	f.NotMember = stranger
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"member", "remove", stranger, "--admission-key", keyFile}, "is not a member"},
		{[]string{"member", "remove", "not-a-peer", "--admission-key", keyFile}, "not a peer id"},
		{[]string{"member", "remove", id}, "--admission-key is required"},
		{[]string{"member", "add", id, "--admission-key", keyFile}, "unknown member command"},
		{[]string{"member", "remove", "--admission-key", keyFile}, "missing PEER_ID"},
	} {
		r := dds(t, f, nil, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// TestInvite: dds invite prints an invite the network's admission key
// signed for that peer id, valid for --valid; a bad peer id, a missing or
// unreadable key and an unreasonable validity are usage errors.
func TestInvite(t *testing.T) {
	keyFile, raw := admissionKeyFile(t)
	id := newPeerID(t)
	r := dds(t, nil, nil, "invite", id, "--admission-key", keyFile, "--valid", "2h").ok(t)
	iv, err := billing.ParseInvite(r.stdout)
	if err != nil {
		t.Fatal(err)
	}
	pub := raw.Public().(ed25519.PublicKey)
	if err := iv.Check(pub, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if left := time.Until(iv.Expires); left < 119*time.Minute || left > 2*time.Hour {
		t.Fatalf("valid for %v", left)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"invite", "not-a-peer", "--admission-key", keyFile}, "not a peer id"},
		{[]string{"invite", id}, "--admission-key is required"},
		{[]string{"invite", id, "--admission-key", filepath.Join(t.TempDir(), "none")}, "no such file"},
		{[]string{"invite", id, "--admission-key", keyFile, "--valid", "1000h"}, "--valid"},
		{[]string{"invite", "--admission-key", keyFile}, "missing PEER_ID"},
	} {
		r := dds(t, nil, nil, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
