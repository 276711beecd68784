package node

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/p2p"
)

// TestRemovedNodeSaysSo: a node its network removed reports it on /status
// (down, with the reason), instead of serving as if nothing happened.
func TestRemovedNodeSaysSo(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	n := startDev(t, dir, clock)
	if st := n.Status(t.Context()); !st.Up {
		t.Fatalf("status before: %+v", st)
	}
	key, err := p2p.LoadKeyFile(filepath.Join(dir, p2p.AdmissionKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	admission, err := p2p.RawKey(key)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	r := billing.SignRemoval(admission, n.PeerID(), clock.Now())
	if err := n.RemoveMember(t.Context(), r.PeerID, r.At, r.Signature); err != nil {
		t.Fatal(err)
	}
	if st := n.Status(t.Context()); st.Up || !strings.Contains(st.Reason, "removed") {
		t.Fatalf("status after the removal: %+v", st)
	}
	if !n.members.warnedRemoved.Load() {
		t.Fatal("the node did not say it was removed")
	}
}
