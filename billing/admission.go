package billing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Domain-separation prefixes of what the admission key signs.
const (
	inviteDomain  = "dds-invite-v1"
	removalDomain = "dds-removal-v1"
)

// invitePrefix starts the text form of an [Invite] (see [Invite.String]).
const invitePrefix = "dds-invite-1:"

// maxInviteText bounds the text form ParseInvite accepts.
const maxInviteText = 2048

// Invite admits one node to a network: the network's admission key signs
// the node's peer id and the time until which the invite may be used. An
// invite admits once: the ledger records each one it used ([Admit]).
type Invite struct {
	PeerID    string    `json:"peer_id"`
	Expires   time.Time `json:"expires"`
	Signature []byte    `json:"signature"`
}

// SignInvite returns an invite for peerID, valid until expires, signed by
// the admission key.
func SignInvite(admission ed25519.PrivateKey, peerID string, expires time.Time) Invite {
	iv := Invite{PeerID: peerID, Expires: expires.UTC().Truncate(time.Second)}
	iv.Signature = ed25519.Sign(admission, iv.Canonical())
	return iv
}

// Canonical returns the bytes the admission key signs: "dds-invite-v1",
// the peer id and the expiry in Unix nanoseconds, encoded like
// Quote.Canonical.
func (iv Invite) Canonical() []byte {
	c := make(canonical, 0, 40+len(iv.PeerID))
	c = append(c, inviteDomain...)
	return c.str(iv.PeerID).i64(iv.Expires.UnixNano())
}

// ID names the invite in the ledger's record of used invites: the hex
// SHA-256 of its canonical bytes (the signature is left out, so the same
// invite signed again is the same invite).
func (iv Invite) ID() string {
	h := sha256.Sum256(iv.Canonical())
	return hex.EncodeToString(h[:])
}

// Check reports why iv does not admit peerID at time now under the
// admission key (nil when it does): a bad signature, another peer's
// invite, or one past its expiry. Whether it was used already is the
// ledger's to say.
func (iv Invite) Check(admissionKey []byte, peerID string, now time.Time) error {
	switch {
	case iv.PeerID == "" || len(iv.PeerID) > MaxIDLen:
		return refusal(ErrInvalid, "invite: peer id must be 1 to %d bytes", MaxIDLen)
	case iv.PeerID != peerID:
		return refusal(ErrForbidden, "invite is for %s, not %s", iv.PeerID, peerID)
	case !validTime(iv.Expires):
		return refusal(ErrInvalid, "invite: expiry out of range")
	case len(admissionKey) != ed25519.PublicKeySize || !verifySig(admissionKey, iv.Canonical(), iv.Signature):
		return refusal(ErrForbidden, "invite for %s is not signed by this network's admission key", iv.PeerID)
	case !now.Before(iv.Expires):
		return refusal(ErrForbidden, "invite for %s expired at %s", iv.PeerID, iv.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// String is the invite as text, what `dds invite` prints and `dds daemon
// --invite` takes: "dds-invite-1:" and the base64url of its JSON.
func (iv Invite) String() string {
	b, err := json.Marshal(iv)
	if err != nil {
		return ""
	}
	return invitePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseInvite reads an invite written by [Invite.String]. It checks the
// form only: [Invite.Check] says whether it admits anyone.
func ParseInvite(s string) (Invite, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxInviteText {
		return Invite{}, fmt.Errorf("invite: longer than %d bytes", maxInviteText)
	}
	body, ok := strings.CutPrefix(s, invitePrefix)
	if !ok {
		return Invite{}, fmt.Errorf("invite: does not start with %q", invitePrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Invite{}, fmt.Errorf("invite: %w", err)
	}
	var iv Invite
	if err := decodeStrict(b, &iv); err != nil {
		return Invite{}, fmt.Errorf("invite: %w", err)
	}
	if iv.PeerID == "" || len(iv.Signature) != ed25519.SignatureSize {
		return Invite{}, errors.New("invite: no peer id or no signature")
	}
	iv.Expires = iv.Expires.UTC()
	return iv, nil
}

// Removal ends a member's membership: the admission key signs the peer id
// and the time of the decision. It applies only to a membership admitted
// before At, so an old removal cannot be replayed against a member
// admitted again since.
type Removal struct {
	PeerID    string    `json:"peer_id"`
	At        time.Time `json:"at"`
	Signature []byte    `json:"signature"`
}

// SignRemoval returns the removal of peerID decided at at, signed by the
// admission key.
func SignRemoval(admission ed25519.PrivateKey, peerID string, at time.Time) Removal {
	r := Removal{PeerID: peerID, At: at.UTC()}
	r.Signature = ed25519.Sign(admission, r.Canonical())
	return r
}

// Canonical returns the bytes the admission key signs for a removal.
func (r Removal) Canonical() []byte {
	c := make(canonical, 0, 40+len(r.PeerID))
	c = append(c, removalDomain...)
	return c.str(r.PeerID).i64(r.At.UnixNano())
}

// Member is an admitted node: its peer id, when the ledger admitted it and
// the invite that did.
type Member struct {
	PeerID   string    `json:"peer_id"`
	Admitted time.Time `json:"admitted"`
	Invite   string    `json:"invite"` // the Invite's ID; "" for the founder
}

// Admit makes the invite's node a member. The founder of a network (the
// node that proposed Init) is admitted by Init itself.
type Admit struct {
	Invite Invite `json:"invite"`
}

// Remove ends a membership by the admission key's decision: the member
// leaves the registry, and with it the quorum's attesters and holders.
type Remove struct {
	Removal Removal `json:"removal"`
}

func (s *State) applyAdmit(now time.Time, a *Admit) Result {
	if !s.initialised {
		return fail(refusal(ErrConflict, "ledger not initialised"))
	}
	iv := a.Invite
	if err := iv.Check(s.admissionKey, iv.PeerID, now); err != nil {
		return fail(asError(err))
	}
	if _, ok := s.members[iv.PeerID]; ok {
		return fail(refusal(ErrConflict, "%s is a member already", iv.PeerID))
	}
	id := iv.ID()
	if s.usedInvites[id] {
		return fail(refusal(ErrForbidden, "the invite for %s was used already", iv.PeerID))
	}
	s.usedInvites[id] = true
	delete(s.removed, iv.PeerID)
	s.members[iv.PeerID] = Member{PeerID: iv.PeerID, Admitted: now, Invite: id}
	return Result{}
}

func (s *State) applyRemove(now time.Time, c *Remove) Result {
	if !s.initialised {
		return fail(refusal(ErrConflict, "ledger not initialised"))
	}
	r := c.Removal
	if !verifySig(s.admissionKey, r.Canonical(), r.Signature) {
		return fail(refusal(ErrForbidden, "removal of %s is not signed by this network's admission key", r.PeerID))
	}
	m, ok := s.members[r.PeerID]
	if !ok {
		return fail(refusal(ErrNotFound, "%s is not a member", r.PeerID))
	}
	if !r.At.After(m.Admitted) {
		return fail(refusal(ErrConflict, "the removal of %s (%s) is older than its admission (%s)",
			r.PeerID, r.At.UTC().Format(time.RFC3339Nano), m.Admitted.Format(time.RFC3339Nano)))
	}
	delete(s.members, r.PeerID)
	delete(s.nodes, r.PeerID)
	s.removed[r.PeerID] = true
	return Result{}
}

// Member returns the membership of peerID; false when it is not a member
// (never admitted, or removed).
func (s *State) Member(peerID string) (Member, bool) {
	m, ok := s.members[peerID]
	return m, ok
}

// IsMember reports whether peerID is a member now.
func (s *State) IsMember(peerID string) bool {
	_, ok := s.members[peerID]
	return ok
}

// Removed reports whether peerID was a member and was removed (and not
// admitted again since).
func (s *State) Removed(peerID string) bool { return s.removed[peerID] }

// Members returns the members' peer ids, sorted.
func (s *State) Members() []string {
	out := make([]string, 0, len(s.members))
	for id := range s.members {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// RemovedMembers returns the peer ids removed and not admitted again,
// sorted.
func (s *State) RemovedMembers() []string {
	out := make([]string, 0, len(s.removed))
	for id := range s.removed {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// AdmissionKey returns the network's admission public key (nil before
// Init).
func (s *State) AdmissionKey() []byte { return bytes.Clone(s.admissionKey) }
