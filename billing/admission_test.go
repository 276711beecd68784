package billing

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// TestAdmission: only an invite signed by the network's admission key, for
// the node itself, not expired and not used before, admits a node; only a
// member registers; only the admission key removes, and a removal does not
// outlive a later admission.
func TestAdmission(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	pub7 := testKey(7).Public().(ed25519.PublicKey)
	register7 := Command{Register: &Register{Node: Node{PeerID: peerName(7), PublicKey: pub7}}}

	f.refused(register7, ErrForbidden) // not a member
	// Nor does a non-member (or no one) receive a payment.
	for _, by := range []string{peerName(7), ""} {
		f.refused(Command{Pay: &Pay{PaymentID: "x", FileID: "none", Status: PaymentSuccess, Amount: 1, ReceivedBy: by}}, ErrForbidden)
	}
	expires := f.now.Add(time.Hour)
	forged := SignInvite(testKey(99), peerName(7), expires) // not the admission key
	f.refused(Command{Admit: &Admit{Invite: forged}}, ErrForbidden)
	tampered := SignInvite(testAdmission(), peerName(8), expires)
	tampered.PeerID = peerName(7) // another's invite, renamed
	f.refused(Command{Admit: &Admit{Invite: tampered}}, ErrForbidden)
	expired := SignInvite(testAdmission(), peerName(7), f.now.Add(-time.Second))
	f.refused(Command{Admit: &Admit{Invite: expired}}, ErrForbidden)
	f.refused(Command{Admit: &Admit{Invite: Invite{PeerID: peerName(7), Expires: expires}}}, ErrForbidden) // unsigned

	invite := SignInvite(testAdmission(), peerName(7), expires)
	f.must(Command{Admit: &Admit{Invite: invite}})
	if m, ok := f.s.Member(peerName(7)); !ok || !m.Admitted.Equal(f.now) || m.Invite != invite.ID() {
		t.Fatalf("member %+v %v", m, ok)
	}
	f.refused(Command{Admit: &Admit{Invite: invite}}, ErrConflict) // a member already
	f.must(register7)
	if _, ok := f.s.Node(peerName(7)); !ok {
		t.Fatal("member not registered")
	}

	// Removal: the admission key's only, and only of a current membership.
	f.advance(time.Minute)
	f.refused(Command{Remove: &Remove{Removal: SignRemoval(testKey(99), peerName(7), f.now)}}, ErrForbidden)
	f.refused(Command{Remove: &Remove{Removal: SignRemoval(testAdmission(), peerName(9), f.now)}}, ErrNotFound)
	f.refused(Command{Remove: &Remove{Removal: SignRemoval(testAdmission(), peerName(7), f.now.Add(-time.Hour))}}, ErrConflict)
	removal := SignRemoval(testAdmission(), peerName(7), f.now)
	f.must(Command{Remove: &Remove{Removal: removal}})
	if f.s.IsMember(peerName(7)) {
		t.Fatal("removed, still a member")
	}
	if _, ok := f.s.Node(peerName(7)); ok || !f.s.Removed(peerName(7)) {
		t.Fatal("removed, still registered")
	}
	f.refused(register7, ErrForbidden)
	// The used invite does not admit again; a new one does, and the old
	// removal does not apply to the new membership.
	f.advance(time.Minute)
	f.refused(Command{Admit: &Admit{Invite: invite}}, ErrForbidden)
	f.must(Command{Admit: &Admit{Invite: SignInvite(testAdmission(), peerName(7), f.now.Add(time.Hour))}})
	f.refused(Command{Remove: &Remove{Removal: removal}}, ErrConflict)
	f.must(register7)
	if f.s.Removed(peerName(7)) {
		t.Fatal("admitted again, still removed")
	}

	// Replicas agree: a snapshot holds the members and the used invites.
	var b bytes.Buffer
	if err := f.s.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	s2, err := ReadSnapshot(&b)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Hash() != f.s.Hash() || !s2.IsMember(peerName(7)) || !s2.usedInvites[invite.ID()] {
		t.Fatal("snapshot lost the membership")
	}
	replay := NewState()
	for _, c := range f.cmds {
		replay.Apply(c)
	}
	if replay.Hash() != f.s.Hash() {
		t.Fatal("replay differs")
	}
}

// TestInit: a network needs an admission key and a founder; the founder is
// its first member.
func TestInitAdmission(t *testing.T) {
	s := NewState()
	pub := testAdmission().Public().(ed25519.PublicKey)
	founder := peerName(0)
	for _, c := range []*Init{
		{Settings: DefaultSettings(), Founder: founder},
		{Settings: DefaultSettings(), AdmissionKey: pub[:31], Founder: founder},
		{Settings: DefaultSettings(), AdmissionKey: pub, Founder: "f"}, // not a peer id
	} {
		if r := s.Apply(signed(Command{Time: t0, Init: c})); r.Err == nil || r.Err.Code != ErrInvalid.Code {
			t.Fatalf("init %+v: %v", c, r.Err)
		}
	}
	// No founder: no one may propose it.
	if r := s.Apply(signed(Command{Time: t0, Init: &Init{Settings: DefaultSettings(), AdmissionKey: pub}})); r.Err == nil {
		t.Fatal("an init with no founder applied")
	}
	if r := s.Apply(signed(Command{Time: t0, Init: &Init{Settings: DefaultSettings(), AdmissionKey: pub, Founder: founder}})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if !s.IsMember(founder) || !bytes.Equal(s.AdmissionKey(), pub) {
		t.Fatal("founder not a member")
	}
}

// TestInviteText: an invite survives its text form; damaged text does not
// parse, and a parsed invite with a changed byte no longer checks.
func TestInviteText(t *testing.T) {
	pub := testAdmission().Public().(ed25519.PublicKey)
	iv := SignInvite(testAdmission(), "12D3KooWpeer", t0.Add(time.Hour))
	got, err := ParseInvite(" " + iv.String() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Check(pub, "12D3KooWpeer", t0); err != nil {
		t.Fatal(err)
	}
	if err := got.Check(pub, "12D3KooWother", t0); err == nil {
		t.Fatal("checked for another peer")
	}
	if err := got.Check(pub, "12D3KooWpeer", t0.Add(time.Hour)); err == nil {
		t.Fatal("checked at its expiry")
	}
	for _, bad := range []string{"", "dds-invite-1:", "dds-invite-1:!!!", "other:" + strings.TrimPrefix(iv.String(), invitePrefix),
		invitePrefix + "e30", strings.Repeat("a", maxInviteText+1)} {
		if _, err := ParseInvite(bad); err == nil {
			t.Fatalf("parsed %q", bad)
		}
	}
	got.Expires = got.Expires.Add(time.Second)
	if err := got.Check(pub, "12D3KooWpeer", t0); err == nil {
		t.Fatal("a changed invite checked")
	}
}

func FuzzParseInvite(f *testing.F) {
	f.Add(SignInvite(testAdmission(), "p", t0).String())
	f.Add("dds-invite-1:e30")
	f.Fuzz(func(t *testing.T, s string) {
		iv, err := ParseInvite(s)
		if err != nil {
			return
		}
		back, err := ParseInvite(iv.String())
		if err != nil || back.ID() != iv.ID() {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestMembershipVersion: the ledger's membership version moves with every
// applied Init, Admit and Remove and a Restore, and with nothing else, so
// a reader's cached view of the members is never stale.
func TestMembershipVersion(t *testing.T) {
	l := NewLedger()
	f := newFixture(t, DefaultSettings()) // for its encoder and clock
	index := uint64(0)
	apply := func(c Command) {
		t.Helper()
		index++
		l.Apply(index, f.encode(c))
	}
	var last uint64
	moved := func(want bool, what string) {
		t.Helper()
		v := l.MembershipVersion()
		if changed := v != last; changed != want {
			t.Fatalf("%s: version moved %v, want %v", what, changed, want)
		}
		last = v
	}
	last = l.MembershipVersion()
	apply(Command{Init: initCmd(DefaultSettings())})
	moved(true, "init")
	apply(Command{Register: &Register{Node: Node{PeerID: peerName(0), PublicKey: testKey(0).Public().(ed25519.PublicKey)}}})
	moved(false, "the founder's register")
	apply(Command{Admit: admitCmd(1)})
	moved(true, "admit")
	apply(Command{Admit: admitCmd(1)}) // refused: a member already
	moved(false, "a refused admit")
	apply(Command{Register: &Register{Node: Node{PeerID: peerName(1), PublicKey: testKey(1).Public().(ed25519.PublicKey)}}})
	apply(Command{Expire: &Expire{}})
	moved(false, "register and expire")
	f.advance(time.Second)
	apply(Command{Remove: &Remove{Removal: SignRemoval(testAdmission(), peerName(1), f.now)}})
	moved(true, "remove")
	var b bytes.Buffer
	if err := l.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	if err := l.Restore(&b); err != nil {
		t.Fatal(err)
	}
	moved(true, "restore")
}
