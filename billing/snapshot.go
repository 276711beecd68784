package billing

import (
	"bytes"
	"container/heap"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// snapshotVersion is the version WriteSnapshot writes. Version 3 adds
// accounts (and files' owners, revisions and the deleted state). Version 2 adds
// retention: files may have been forgotten (a payment's file may be
// gone), ended files are tombstones with their Ended time, and accruals
// keep what reports need of ended leases. ReadSnapshot reads version 1
// too, turning its ended files into tombstones as a sweep would have.
const snapshotVersion = 3

// snapshot is the canonical, ordered form of a State.
type snapshot struct {
	Version     int           `json:"version"`
	Initialised bool          `json:"initialised"`
	Settings    Settings      `json:"settings"`
	Nodes       []Node        `json:"nodes"`
	Files       []*fileRecord `json:"files"`              // in creation order
	Accruals    []*accrual    `json:"accruals,omitempty"` // by (End, FileID)
	Payments    []Payment     `json:"payments"`
	LastCreated time.Time     `json:"last_created"`
	Clock       time.Time     `json:"clock,omitzero"` // the latest time an applied command carried

	AdmissionKey []byte   `json:"admission_key,omitempty"`
	ProcessorKey []byte   `json:"processor_key,omitempty"`
	Members      []Member `json:"members,omitempty"`      // by peer id
	UsedInvites  []string `json:"used_invites,omitempty"` // sorted
	Removed      []string `json:"removed,omitempty"`      // sorted

	Accounts   []*Account       `json:"accounts,omitempty"`    // by id
	Buckets    []bucketSnap     `json:"buckets,omitempty"`     // by name
	BucketGens map[string]int64 `json:"bucket_gens,omitempty"` // names deleted before, with their generation
}

func (s *State) encode() ([]byte, error) {
	snap := snapshot{
		Version:     snapshotVersion,
		Initialised: s.initialised,
		Settings:    s.settings,
		Nodes:       s.Nodes(),
		Files:       make([]*fileRecord, 0, len(s.byID)),
		Accruals:    s.accruals,
		Payments:    make([]Payment, 0, len(s.payments)),
		LastCreated: s.lastCreated,
		Clock:       s.clock,
	}
	for _, rec := range s.files {
		if rec != nil {
			snap.Files = append(snap.Files, rec)
		}
	}
	for _, p := range s.payments {
		snap.Payments = append(snap.Payments, p)
	}
	slices.SortFunc(snap.Payments, func(a, b Payment) int { return strings.Compare(a.ID, b.ID) })
	snap.AdmissionKey = s.admissionKey
	snap.ProcessorKey = s.processorKey
	for _, m := range s.members {
		snap.Members = append(snap.Members, m)
	}
	slices.SortFunc(snap.Members, func(a, b Member) int { return strings.Compare(a.PeerID, b.PeerID) })
	for id := range s.usedInvites {
		snap.UsedInvites = append(snap.UsedInvites, id)
	}
	slices.Sort(snap.UsedInvites)
	for id := range s.removed {
		snap.Removed = append(snap.Removed, id)
	}
	slices.Sort(snap.Removed)
	for _, a := range s.accounts {
		snap.Accounts = append(snap.Accounts, a)
	}
	slices.SortFunc(snap.Accounts, func(a, b *Account) int { return strings.Compare(a.ID, b.ID) })
	snap.Buckets = s.snapBuckets()
	if len(s.bucketGens) > 0 {
		snap.BucketGens = s.bucketGens
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	return b, nil
}

// WriteSnapshot writes the whole state to w. Equal states give equal bytes.
func (s *State) WriteSnapshot(w io.Writer) error {
	b, err := s.encode()
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// Hash returns the SHA-256 of the state's snapshot: replicas that applied
// the same commands have the same hash.
func (s *State) Hash() [32]byte {
	b, err := s.encode()
	if err != nil {
		// Not reachable for states built by Apply or ReadSnapshot; hash the
		// error so that a broken state never equals a good one.
		return sha256.Sum256([]byte(err.Error()))
	}
	return sha256.Sum256(b)
}

// ReadSnapshot reads a state written by WriteSnapshot, checking that it is
// consistent.
func ReadSnapshot(r io.Reader) (*State, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	var snap snapshot
	if err := decodeStrict(b, &snap); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	s, err := snap.state()
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	return s, nil
}

func (snap *snapshot) state() (*State, error) {
	if snap.Version < 1 || snap.Version > snapshotVersion {
		return nil, fmt.Errorf("unknown snapshot version %d", snap.Version)
	}
	if snap.Version == 1 && len(snap.Accruals) > 0 {
		return nil, errors.New("accruals in a version 1 snapshot")
	}
	s := NewState()
	if snap.Initialised {
		if err := snap.Settings.Validate(); err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
		if len(snap.AdmissionKey) != ed25519.PublicKeySize {
			return nil, errors.New("no admission key")
		}
		s.initialised = true
		s.settings = snap.Settings.withDefaults()
		s.admissionKey = snap.AdmissionKey
		if snap.ProcessorKey != nil && len(snap.ProcessorKey) != ed25519.PublicKeySize {
			return nil, errors.New("bad payment processor key")
		}
		s.processorKey = snap.ProcessorKey
	} else if snap.Settings != (Settings{}) || snap.AdmissionKey != nil || snap.ProcessorKey != nil || len(snap.Members) > 0 {
		return nil, errors.New("settings or members in an uninitialised ledger")
	}
	for _, m := range snap.Members {
		if _, dup := s.members[m.PeerID]; dup || m.PeerID == "" {
			return nil, fmt.Errorf("bad or duplicate member %q", m.PeerID)
		}
		m.Admitted = m.Admitted.UTC()
		s.members[m.PeerID] = m
	}
	for _, id := range snap.UsedInvites {
		s.usedInvites[id] = true
	}
	for _, id := range snap.Removed {
		if s.IsMember(id) {
			return nil, fmt.Errorf("member %q is removed", id)
		}
		s.removed[id] = true
	}
	for _, n := range snap.Nodes {
		if _, dup := s.nodes[n.PeerID]; dup || n.PeerID == "" || len(n.PublicKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("bad or duplicate node %q", n.PeerID)
		}
		if !s.IsMember(n.PeerID) {
			return nil, fmt.Errorf("node %q is not a member", n.PeerID)
		}
		n.Joined = n.Joined.UTC()
		s.nodes[n.PeerID] = n
	}
	if snap.Version < 3 && len(snap.Accounts) > 0 {
		return nil, fmt.Errorf("accounts in a version %d snapshot", snap.Version)
	}
	for i, a := range snap.Accounts {
		if a == nil || a.ID == "" || len(a.PublicKey) != ed25519.PublicKeySize || a.Balance < 0 || a.Credits < 0 {
			return nil, fmt.Errorf("account %d is malformed", i)
		}
		k := hex.EncodeToString(a.PublicKey)
		if _, dup := s.accounts[a.ID]; dup {
			return nil, fmt.Errorf("duplicate account %q", a.ID)
		}
		if _, dup := s.accountKeys[k]; dup {
			return nil, fmt.Errorf("account %q: duplicate key", a.ID)
		}
		a.OpenedAt = a.OpenedAt.UTC()
		s.accounts[a.ID] = a
		s.accountKeys[k] = a.ID
	}
	// Cancellations, by file: when a version 1 file was cancelled.
	cancelled := make(map[string]time.Time)
	for _, p := range snap.Payments {
		if p.Status == PaymentError && p.Kind == QuoteNew {
			cancelled[p.FileID] = p.At
		}
	}
	for i, rec := range snap.Files {
		if rec == nil {
			return nil, fmt.Errorf("file %d is null", i)
		}
		if err := rec.check(); err != nil {
			return nil, fmt.Errorf("file %q: %w", rec.File.ID, err)
		}
		if _, dup := s.byID[rec.File.ID]; dup {
			return nil, fmt.Errorf("duplicate file %q", rec.File.ID)
		}
		if rec.File.CreatedAt.After(snap.LastCreated) {
			return nil, fmt.Errorf("file %q created after the last creation time", rec.File.ID)
		}
		if n := len(s.files); n > 0 && !rec.File.CreatedAt.After(s.files[n-1].File.CreatedAt) {
			return nil, fmt.Errorf("file %q out of creation order", rec.File.ID)
		}
		if err := s.migrate(snap.Version, rec, cancelled, snap.Clock); err != nil {
			return nil, fmt.Errorf("file %q: %w", rec.File.ID, err)
		}
		if o := rec.File.Owner; o != "" {
			if _, ok := s.accounts[o]; !ok {
				return nil, fmt.Errorf("file %q: owner %q is not an account", rec.File.ID, o)
			}
		}
		rec.pos, rec.slot = len(s.files), len(s.files)
		rec.due = rec.deadline(s.settings)
		s.files = append(s.files, rec)
		s.created = append(s.created, rec.File.CreatedAt.UnixNano())
		s.byID[rec.File.ID] = rec
		s.addOwned(rec)
	}
	s.due = slices.Clone(deadlines(s.files))
	heap.Init(&s.due)
	for i, a := range snap.Accruals {
		if a == nil || a.FileID == "" || len(a.Segments) == 0 || len(a.Holdings) == 0 {
			return nil, fmt.Errorf("accrual %d is empty", i)
		}
		if i > 0 && accrualCmp(snap.Accruals[i-1], a) > 0 {
			return nil, fmt.Errorf("accrual %d out of order", i)
		}
	}
	if snap.Version < 3 && (len(snap.Buckets) > 0 || len(snap.BucketGens) > 0) {
		return nil, fmt.Errorf("buckets in a version %d snapshot", snap.Version)
	}
	if err := s.restoreBuckets(snap.Buckets, snap.BucketGens); err != nil {
		return nil, err
	}
	// Version 1 files that ended were added in migrate, in file order.
	s.accruals = append(s.accruals, snap.Accruals...)
	s.lastCreated = snap.LastCreated
	s.clock = snap.Clock
	for _, p := range snap.Payments {
		if _, dup := s.payments[p.ID]; dup || p.ID == "" {
			return nil, fmt.Errorf("bad or duplicate payment %q", p.ID)
		}
		// A payment outlives its file: a file is forgotten when its
		// retention ends, a payment is kept for reports.
		if p.Amount < 0 {
			return nil, fmt.Errorf("payment %q has a negative amount", p.ID)
		}
		s.payments[p.ID] = p
		if p.Status == PaymentSuccess {
			if p.FromAccount == "" { // a balance's money was counted when it was credited
				total, ok := addMoney(s.paid, p.Amount)
				if !ok {
					return nil, errors.New("payments overflow")
				}
				s.paid = total
			}
			s.paidCount++
		}
	}
	return s, nil
}

// migrate brings a record read from a snapshot of the given version to
// this version's form: a version 1 file that ended becomes a tombstone,
// with the Ended time a sweep of this version would have given it (for a
// cancelled file, its cancelling payment's time; clock, the snapshot's
// time, if that is missing), and the accrual a report needs. In a version
// 2 snapshot an ended file must be a tombstone already.
func (s *State) migrate(version int, rec *fileRecord, cancelled map[string]time.Time, clock time.Time) error {
	f := &rec.File
	ended := f.Ended()
	if version < 3 && (f.State == StateDeleted || f.Owner != "" || f.Private || f.Rev != 0) {
		return fmt.Errorf("an account's file in a version %d snapshot", version)
	}
	if version >= 2 {
		switch {
		case ended && rec.Ended.IsZero():
			return fmt.Errorf("no end time in state %q", f.State)
		case !ended && !rec.Ended.IsZero():
			return fmt.Errorf("an end time in state %q", f.State)
		case ended && (len(rec.Segments) > 0 || len(rec.Holdings) > 0 || f.Additional != nil):
			return errors.New("an ended file that is not a tombstone")
		}
		return nil
	}
	if !rec.Ended.IsZero() {
		return errors.New("an end time in a version 1 snapshot")
	}
	switch {
	case f.State == StateExpired && !f.Leased():
		rec.Ended = f.QuoteExpiresAt
		rec.tombstone()
	case f.State == StateExpired:
		s.retire(rec)
	case f.State == StateCancelled:
		at, ok := cancelled[f.ID]
		if !ok {
			at = clock
		}
		rec.Ended = at
		rec.tombstone()
	}
	return nil
}

// check verifies what Apply relies on in a record read from a snapshot.
func (rec *fileRecord) check() error {
	f := &rec.File
	if f.ID == "" {
		return errors.New("no id")
	}
	switch f.State {
	case StateQuoted, StateExtensionQuoted:
		if f.Quote == nil {
			return errors.New("no open quote")
		}
	case StateStoring, StateStored, StateExpired, StateCancelled, StateDeleted:
		if f.Quote != nil {
			return fmt.Errorf("open quote in state %q", f.State)
		}
	default:
		return fmt.Errorf("unknown state %q", f.State)
	}
	switch rec.Last {
	case quoteOpen, quotePaid, quoteCancelled, quoteLapsed:
	default:
		return fmt.Errorf("unknown quote status %q", rec.Last)
	}
	if f.Paid < 0 {
		return errors.New("negative paid amount")
	}
	switch {
	case f.State == StateDeleted && f.Leased() && (f.ExpiresAt.Before(f.StoredAt) || f.ExpiresAt.After(f.StoredAt.Add(time.Duration(f.Duration)*time.Second))):
		return errors.New("a deleted lease ends outside its term")
	case f.State != StateDeleted && f.Leased() && !f.ExpiresAt.Equal(f.StoredAt.Add(time.Duration(f.Duration)*time.Second)):
		return errors.New("lease end is not start plus duration")
	case f.Private && f.Owner == "":
		return errors.New("a private file with no owner")
	case f.Rev < 0:
		return errors.New("negative revision")
	}
	if f.Additional != nil {
		enc, err := json.Marshal(f.Additional)
		if err != nil || len(f.Additional) > MaxAdditionalKeys || len(enc) > MaxAdditionalBytes {
			return errors.New("bad additional attributes")
		}
		for k, v := range f.Additional {
			var buf bytes.Buffer
			if json.Compact(&buf, v) != nil || !bytes.Equal(buf.Bytes(), v) || string(v) == "null" {
				return fmt.Errorf("additional %q not in canonical form", k)
			}
		}
	}
	return nil
}
