package billing

import (
	"crypto/ed25519"
	"slices"
	"time"
)

// Dropping a holder ends its holding, and the holder then deletes its copy
// (GC): a member that could drop holders at will could erase any file. So
// the state machine takes a Drop only with evidence:
//
//   - the holder proposes it itself (its signed command is its release);
//   - the holder is no longer a member (removed: the ledger is the
//     evidence);
//   - or at least MinFailureReports members other than the holder each
//     signed a FailureReport: it challenged the holder for the file itself
//     and the holder failed (no copy, a wrong proof, or no answer in time),
//     since the holding began and recently.
//
// One member alone, the proposer included, cannot drop an honest holder:
// it needs another member to see the failure for itself.
const (
	// MinFailureReports is how many members other than the holder must
	// report it failed.
	MinFailureReports = 2
	// ReportMaxAge bounds how long before its Drop a report may be made;
	// ReportMaxAhead how far after (the reporters' clocks differ from the
	// proposer's).
	ReportMaxAge   = 10 * time.Minute
	ReportMaxAhead = time.Minute
)

// reportDomain opens a FailureReport's signed bytes.
const reportDomain = "dds-failure-report-v1"

// FailureReport is a member's signed statement that a holder failed a
// challenge for a file, at a time: the evidence a Drop of that holder
// needs (see MinFailureReports).
type FailureReport struct {
	FileID    string    `json:"file_id"`
	Holder    string    `json:"holder"`
	Reporter  string    `json:"reporter"`
	At        time.Time `json:"at"`
	Reason    string    `json:"reason,omitempty"` // what the reporter saw, for people; signed too
	Signature []byte    `json:"signature"`
}

// MaxReasonLen bounds a report's reason, in bytes.
const MaxReasonLen = 256

// Canonical returns the bytes a reporter signs: the prefix
// "dds-failure-report-v1" followed by FileID, Holder, Reporter, At (Unix
// nanoseconds) and Reason, encoded like Quote.Canonical.
func (r FailureReport) Canonical() []byte {
	c := make(canonical, 0, 80+len(r.FileID)+len(r.Holder)+len(r.Reporter)+len(r.Reason))
	c = append(c, reportDomain...)
	return c.str(r.FileID).str(r.Holder).str(r.Reporter).i64(r.At.UnixNano()).str(r.Reason)
}

// Sign returns r with its Signature made by key.
func (r FailureReport) Sign(key ed25519.PrivateKey) FailureReport {
	r.Signature = ed25519.Sign(key, r.Canonical())
	return r
}

// dropEvidence returns why d may not drop its holder, or nil: d is
// proposed by the holder itself, or the holder is no longer a member, or
// it comes with MinFailureReports valid reports (see the const block
// above); start is when the holder's current holding began.
func (s *State) dropEvidence(now time.Time, by string, d *Drop, start time.Time) *Error {
	if by == d.Holder || !s.IsMember(d.Holder) {
		return nil
	}
	if len(d.Reports) > MaxSigners {
		return refusal(ErrInvalid, "more than %d failure reports", MaxSigners)
	}
	var reporters []string
	for i, r := range d.Reports {
		switch {
		case r.FileID != d.FileID || r.Holder != d.Holder:
			return refusal(ErrInvalid, "failure report %d is about another file or holder", i)
		case r.Reporter == d.Holder:
			return refusal(ErrInvalid, "failure report %d is by the holder itself", i)
		case len(r.Reason) > MaxReasonLen:
			return refusal(ErrInvalid, "failure report %d: reason longer than %d bytes", i, MaxReasonLen)
		case slices.Contains(reporters, r.Reporter):
			return refusal(ErrInvalid, "failure report %d: %s reported twice", i, r.Reporter)
		case r.At.Before(start) || r.At.Before(now.Add(-ReportMaxAge)) || r.At.After(now.Add(ReportMaxAhead)):
			return refusal(ErrInvalid, "failure report %d by %s is not from the holding's current stretch within the last %v", i, r.Reporter, ReportMaxAge)
		}
		n, ok := s.nodes[r.Reporter]
		if !ok || !s.IsMember(r.Reporter) {
			return refusal(ErrForbidden, "failure report %d: %s is not a registered member", i, r.Reporter)
		}
		if !s.verify(n.PublicKey, r.Canonical(), r.Signature) {
			return refusal(ErrForbidden, "failure report %d: bad signature by %s", i, r.Reporter)
		}
		reporters = append(reporters, r.Reporter)
	}
	if len(reporters) < MinFailureReports {
		return refusal(ErrForbidden, "dropping %s from file %s needs its own release, or failure reports from %d other members (%d given)",
			d.Holder, d.FileID, MinFailureReports, len(reporters))
	}
	return nil
}
