package node

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/consensus"
)

// The ledger knows the index its state reflects after a restore too, so a
// replica's catch-up (catchUp) is exact.
var _ consensus.IndexedStateMachine = (*billing.Ledger)(nil)

// A member no caller waits on applies without encoding results
// (billing.Ledger.ApplyQuiet); every member checks every signature.
var _ consensus.QuietStateMachine = (*billing.Ledger)(nil)

// The leader asks a non-voter to make its log durable before it promotes it,
// which lets non-voters put their fsyncs off.
var _ consensus.VoterPreparer = forwarder{}

// apply stamps cmd with the node's time, signs it as its proposer
// (billing checks that on every replica), replicates it through the ledger
// and returns the state machine's result; a refusal by the rules comes back
// as one of the node's errors.
func (n *Node) apply(ctx context.Context, cmd billing.Command) (billing.Result, error) {
	if cmd.Time.IsZero() {
		cmd.Time = n.now()
	}
	b, err := n.sign(cmd)
	if err != nil {
		return billing.Result{}, err
	}
	out, err := n.raft.Apply(ctx, b)
	if err != nil {
		switch {
		case errors.Is(err, consensus.ErrNoLeader), errors.Is(err, consensus.ErrNotLeader),
			errors.Is(err, consensus.ErrTimeout):
			return billing.Result{}, fmt.Errorf("%w: the ledger cannot agree now (%v)", ErrUnavailable, err)
		case errors.Is(err, consensus.ErrClosed):
			return billing.Result{}, ErrClosed
		case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
			// raft could not write the entry (its leader stepped down):
			// nothing was applied, and a retry may find room or another leader.
			return billing.Result{}, fmt.Errorf("%w: the ledger's disk is full (%w)", ErrUnavailable, err)
		}
		return billing.Result{}, fmt.Errorf("apply to ledger: %w", err)
	}
	res, err := billing.DecodeResult(out)
	if err != nil {
		return billing.Result{}, fmt.Errorf("decode ledger result: %w", err)
	}
	if res.Err != nil {
		return res, ruleError(res.Err)
	}
	return res, nil
}

// sign returns cmd proposed by this node, signed with its key, encoded.
// Its own ledger need not check the signature again.
func (n *Node) sign(cmd billing.Command) ([]byte, error) {
	by := n.PeerID()
	msg, err := cmd.Message(by)
	if err != nil {
		return nil, err
	}
	sig, err := n.host.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("sign %s command: %w", cmd.Kind(), err)
	}
	n.ledger.RememberSignature(n.host.PublicKey(), msg, sig)
	b, err := cmd.WithSig(by, msg, sig).Encode()
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	return b, nil
}

// ruleError turns a refusal of the billing rules into the node's error.
func ruleError(e *billing.Error) error {
	var base error
	switch e.Code {
	case billing.ErrNotFound.Code:
		base = ErrNotFound
	case billing.ErrAlreadyPaid.Code:
		base = ErrAlreadyPaid
	case billing.ErrQuoteExpired.Code:
		base = ErrQuoteExpired
	case billing.ErrAmountTooLow.Code:
		base = ErrAmountTooLow
	case billing.ErrConflict.Code:
		base = ErrConflict
	case billing.ErrGone.Code:
		base = ErrGone
	case billing.ErrForbidden.Code:
		base = ErrForbidden
	case billing.ErrPaymentRequired.Code:
		base = ErrPaymentRequired
	default:
		base = ErrInvalid
	}
	return fmt.Errorf("%w: %s", base, e.Message)
}

func (n *Node) settings() (billing.Settings, bool) {
	var s billing.Settings
	var ok bool
	n.ledger.Read(func(st *billing.State) { s, ok = st.Settings() })
	return s, ok
}

func (n *Node) ledgerFile(id string) (billing.File, bool) {
	var f billing.File
	var ok bool
	n.ledger.Read(func(st *billing.State) { f, ok = st.File(id) })
	return f, ok
}

// fresh runs look on this replica of the ledger, and once more after
// catching up with the leader (see catchUp) when look reports that what it
// found may be behind what the caller must not miss. It reports whether
// what look found last is known to be current: false when this replica
// could not catch up, so that "not found" is not said on the word of a
// replica that may be behind (a partitioned node says it cannot tell).
func (n *Node) fresh(ctx context.Context, look func() (current bool)) (checked bool) {
	if look() {
		return true
	}
	caught := n.catchUp(ctx)
	look()
	return caught
}

// freshFile returns this replica's record of a file, after catching up
// with the leader when it has none or when moved says the one it has may
// be behind; checked as for fresh.
func (n *Node) freshFile(ctx context.Context, id string, moved func(billing.File) bool) (f billing.File, ok, checked bool) {
	checked = n.fresh(ctx, func() bool {
		f, ok = n.ledgerFile(id)
		return ok && (moved == nil || !moved(f))
	})
	return f, ok, checked
}

// errBehind refuses what needs the ledger's current state on a node whose
// replica could not catch up with the leader.
var errBehind = fmt.Errorf("%w: this node cannot reach the ledger's leader to read its current state", ErrUnavailable)

// errNoFile is the error for a file this replica does not have: not found
// when it caught up with the leader, unavailable when it could not.
func errNoFile(id string, checked bool) error {
	if !checked {
		return fmt.Errorf("%w: file %s is not in this node's replica of the ledger, which cannot reach the leader to catch up", ErrUnavailable, id)
	}
	return fmt.Errorf("%w: no file %s", ErrNotFound, id)
}

// fileOf converts the ledger's view of a file into the node's.
func fileOf(f billing.File) File {
	return File{
		ID:             f.ID,
		Name:           f.Name,
		CID:            f.CID,
		Size:           f.Size,
		Additional:     f.Additional,
		State:          string(f.State),
		Duration:       f.Duration,
		Price:          f.Price,
		QuoteExpiresAt: f.QuoteExpiresAt,
		CreatedAt:      f.CreatedAt,
		StoredAt:       f.StoredAt,
		ExpiresAt:      f.ExpiresAt,
		Replicas:       f.Holders,
		AttestedBy:     f.AttestedBy,
		Owner:          f.Owner,
		Private:        f.Private,
	}
}
