package billing

import (
	"testing"
	"time"
)

// A holder is dropped only with evidence: its own release (it proposes
// the drop), its removal from the network, or failure reports from two
// members other than it, fresh and from its current holding. Everything
// short of that is refused and changes nothing.
func TestDropNeedsEvidence(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	f.paid("a", 1<<20, 10*86400)
	f.must(f.holdCmd("a", 0, 1, 2))
	f.advance(time.Hour)
	p := func(i int) string { return peerName(i) }
	drop := func(reports ...FailureReport) Command {
		return Command{Drop: &Drop{FileID: "a", Holder: p(1), Reports: reports}}
	}
	now := f.now
	ok3, ok4 := f.failure("a", 1, 3, now), f.failure("a", 1, 4, now)
	forged := ok4
	forged.Signature = f.failure("a", 1, 4, now.Add(time.Second)).Signature
	outsider := FailureReport{FileID: "a", Holder: p(1), Reporter: peerName(40), At: now}.Sign(testKey(40))
	other := f.failure("a", 2, 4, now)
	other.Holder = p(2)
	for name, tc := range map[string]struct {
		cmd  Command
		want *Error
	}{
		"no evidence":              {drop(), ErrForbidden},
		"one member's word":        {drop(ok3), ErrForbidden},
		"one member twice":         {drop(ok3, ok3), ErrInvalid},
		"the holder's own report":  {drop(ok3, f.failure("a", 1, 1, now)), ErrInvalid},
		"about another holder":     {drop(ok3, other), ErrInvalid},
		"a forged signature":       {drop(ok3, forged), ErrForbidden},
		"an outsider's report":     {drop(ok3, outsider), ErrForbidden},
		"a stale report":           {drop(ok3, f.failure("a", 1, 4, now.Add(-ReportMaxAge-time.Second))), ErrInvalid},
		"a report from the future": {drop(ok3, f.failure("a", 1, 4, now.Add(ReportMaxAhead+time.Second))), ErrInvalid},
		"before the holding began": {drop(ok3, f.failure("a", 1, 4, now.Add(-2*time.Hour))), ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) { f.refused(tc.cmd, tc.want) })
	}
	// Two members' reports drop it.
	f.must(drop(ok3, ok4))
	// A holder releases its own holding.
	c := Command{Drop: &Drop{FileID: "a", Holder: p(2)}}
	c.Time = f.now
	signedByHolder, err := c.Sign(p(2), testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	f.must(signedByHolder)
	// A holder removed from the network is dropped on the ledger's word.
	f.advance(time.Minute)
	f.must(Command{Remove: &Remove{Removal: SignRemoval(testAdmission(), p(0), f.now)}})
	byOther, err := Command{Time: f.now, Drop: &Drop{FileID: "a", Holder: p(0)}}.Sign(p(3), testKey(3))
	if err != nil {
		t.Fatal(err)
	}
	f.must(byOther)
	if h := f.file("a").Holders; len(h) != 0 {
		t.Fatalf("holders left %v", h)
	}
}

// Holders are recorded by the file's placer (its issuer, or a holder
// repairing it), never by another member, even with valid receipts, nor
// by a member for itself; and only for a paid lease.
func TestHoldProposedByIssuerOrHolders(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	f.upload("q", 1<<20, 86400)
	f.refused(f.holdCmd("q", 1), ErrConflict) // not paid
	f.paid("a", 1<<20, 86400)
	by := func(c Command, i int) Command {
		c.Time = f.now
		s, err := c.Sign(peerName(i), testKey(i))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	f.refused(by(f.holdCmd("a", 1, 2), 4), ErrForbidden) // another member
	f.refused(by(f.holdCmd("a", 4), 4), ErrForbidden)    // a member for itself
	f.must(by(f.holdCmd("a", 1), 0))                     // the issuer
	f.must(by(f.holdCmd("a", 3), 1))                     // a holder repairing
}
