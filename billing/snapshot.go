package billing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

const snapshotVersion = 1

// snapshot is the canonical, ordered form of a State.
type snapshot struct {
	Version     int           `json:"version"`
	Initialised bool          `json:"initialised"`
	Settings    Settings      `json:"settings"`
	Nodes       []Node        `json:"nodes"`
	Files       []*fileRecord `json:"files"`
	Payments    []Payment     `json:"payments"`
	LastCreated time.Time     `json:"last_created"`
	Clock       time.Time     `json:"clock,omitzero"` // the latest time an applied command carried

	AdmissionKey []byte   `json:"admission_key,omitempty"`
	ProcessorKey []byte   `json:"processor_key,omitempty"`
	Members      []Member `json:"members,omitempty"`      // by peer id
	UsedInvites  []string `json:"used_invites,omitempty"` // sorted
	Removed      []string `json:"removed,omitempty"`      // sorted
}

func (s *State) encode() ([]byte, error) {
	snap := snapshot{
		Version:     snapshotVersion,
		Initialised: s.initialised,
		Settings:    s.settings,
		Nodes:       s.Nodes(),
		Files:       s.files,
		Payments:    make([]Payment, 0, len(s.payments)),
		LastCreated: s.lastCreated,
		Clock:       s.clock,
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
	if snap.Version != snapshotVersion {
		return nil, fmt.Errorf("unknown snapshot version %d", snap.Version)
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
		s.settings = snap.Settings
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
		s.byID[rec.File.ID] = i
		s.files = append(s.files, rec)
	}
	s.lastCreated = snap.LastCreated
	s.clock = snap.Clock
	for _, p := range snap.Payments {
		if _, dup := s.payments[p.ID]; dup || p.ID == "" {
			return nil, fmt.Errorf("bad or duplicate payment %q", p.ID)
		}
		if _, ok := s.byID[p.FileID]; !ok {
			return nil, fmt.Errorf("payment %q for unknown file %q", p.ID, p.FileID)
		}
		if p.Amount < 0 {
			return nil, fmt.Errorf("payment %q has a negative amount", p.ID)
		}
		s.payments[p.ID] = p
		if p.Status == PaymentSuccess {
			total, ok := addMoney(s.paid, p.Amount)
			if !ok {
				return nil, errors.New("payments overflow")
			}
			s.paid = total
			s.paidCount++
		}
	}
	return s, nil
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
	case StateStoring, StateStored, StateExpired, StateCancelled:
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
	if f.Leased() && !f.ExpiresAt.Equal(f.StoredAt.Add(time.Duration(f.Duration)*time.Second)) {
		return errors.New("lease end is not start plus duration")
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
