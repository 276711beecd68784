package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/p2p/audit"
	"github.com/ddsnet/dds/p2p/witness"
)

// A holder is dropped from the ledger only with evidence (billing's
// MinFailureReports): this node's own failure report and those of
// witnesses, members that challenged the holder themselves and saw it
// fail (p2p/witness). So no member alone, this one included, can drop an
// honest holder and make it delete its copy.

const (
	// maxWitnessAsks bounds the members asked for one drop.
	maxWitnessAsks = 6
	// unreachableFor is how long a holder found unreachable (no answer at
	// all, not a wrong one) is taken as such for its other files: when a
	// node dies, its holdings are dropped file after file, and each need
	// not wait for its own dial to time out.
	unreachableFor = 30 * time.Second
)

// errNotMember is why a holder no longer a member is dropped.
var errNotMember = errors.New("no longer a member of the network")

// errInconclusive is a check that proves nothing either way: this node
// cannot reach a good copy to challenge with, its own copy is at fault,
// the holder is busy, or this node is stopping.
var errInconclusive = errors.New("check inconclusive")

// unreachables remembers the holders found unreachable, and when.
type unreachables struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (u *unreachables) note(h string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.at == nil {
		u.at = map[string]time.Time{}
	}
	for p, t := range u.at {
		if now.Sub(t) > unreachableFor {
			delete(u.at, p)
		}
	}
	u.at[h] = now
}

func (u *unreachables) recent(h string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.at[h]
	return ok && now.Sub(t) <= unreachableFor
}

// verdict reads the outcome of a challenge: nil when the holder passed,
// errInconclusive (wrapped) when it proves nothing, else the failure.
func verdict(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, chunk.ErrHashMismatch), errors.Is(err, chunk.ErrNotFound):
		return fmt.Errorf("%w: this node's own copy is at fault (%v)", errInconclusive, err)
	case errors.Is(err, audit.ErrMissing), errors.Is(err, audit.ErrCorrupt), errors.Is(err, audit.ErrWrongProof):
		return err
	case ctx.Err() != nil, errors.Is(err, audit.ErrClosed):
		return fmt.Errorf("%w: stopping (%v)", errInconclusive, err)
	case errors.Is(err, audit.ErrBusy):
		// An answer: the holder serves as many challenges as it can.
		return fmt.Errorf("%w: %v", errInconclusive, err)
	}
	// No answer in time, or none at all: a holder that does not answer
	// for what it holds fails like one that lacks the chunk.
	return fmt.Errorf("no answer: %w", err)
}

// unanswered reports whether a failed verdict is a holder that did not
// answer at all.
func unanswered(err error) bool {
	return err != nil && !errors.Is(err, errInconclusive) &&
		!errors.Is(err, audit.ErrMissing) && !errors.Is(err, audit.ErrCorrupt) && !errors.Is(err, audit.ErrWrongProof)
}

// checkHolder challenges holder h of f for a random chunk, with this
// node's own copy, or else with one fetched from another holder, and
// returns the verdict.
func (n *Node) checkHolder(ctx context.Context, f billing.File, h string) error {
	if n.unreachable.recent(h, time.Now()) {
		return fmt.Errorf("no answer: %s was unreachable within %v", h, unreachableFor)
	}
	p, err := peer.Decode(h)
	if err != nil {
		return fmt.Errorf("%w: holder id: %v", errInconclusive, err)
	}
	root, err := cid.Decode(f.CID)
	if err != nil {
		return fmt.Errorf("%w: file cid: %v", errInconclusive, err)
	}
	var v error
	if m, err := n.store.Manifest(ctx, root); err == nil && len(m.Chunks) > 0 {
		v = verdict(ctx, n.audit.Challenge(ctx, p, m.Chunks[rand.IntN(len(m.Chunks))].CID))
	} else {
		v = n.checkFromOthers(ctx, f, root, p)
	}
	if unanswered(v) {
		n.unreachable.note(h, time.Now())
	}
	return v
}

// checkFromOthers is checkHolder for a file this node does not hold: the
// chunk comes from the other holders (the fetch verifies it).
func (n *Node) checkFromOthers(ctx context.Context, f billing.File, root cid.Cid, p peer.ID) error {
	var others []peer.ID
	for _, h := range f.Holders {
		if q, err := peer.Decode(h); err == nil && q != p && h != n.PeerID() {
			others = append(others, q)
		}
	}
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	m, err := n.fetch.Manifest(ctx, root, others)
	if err != nil || len(m.Chunks) == 0 {
		return fmt.Errorf("%w: no other holder gives the manifest", errInconclusive)
	}
	c := m.Chunks[rand.IntN(len(m.Chunks))].CID
	for _, src := range others {
		fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		data, err := n.fetch.Get(fctx, src, c)
		cancel()
		if err == nil {
			return verdict(ctx, n.audit.ChallengeWith(ctx, p, c, data))
		}
	}
	return fmt.Errorf("%w: no other holder gives chunk %s", errInconclusive, c)
}

// report is this node's signed failure report about holder h of file id.
func (n *Node) report(id, h string, why error) (billing.FailureReport, error) {
	// Cut to the ledger's bound, whole runes only: the report is signed
	// over these bytes, and JSON would carry a split rune otherwise.
	reason := why.Error()
	if len(reason) > billing.MaxReasonLen {
		reason = strings.ToValidUTF8(reason[:billing.MaxReasonLen], "")
	}
	r := billing.FailureReport{FileID: id, Holder: h, Reporter: n.PeerID(), At: n.now(), Reason: reason}
	msg := r.Canonical()
	sig, err := n.host.Sign(msg)
	if err != nil {
		return billing.FailureReport{}, fmt.Errorf("sign failure report: %w", err)
	}
	n.ledger.RememberSignature(n.host.PublicKey(), msg, sig)
	r.Signature = sig
	return r, nil
}

// dropHolder has the ledger drop holder h of f, which this node saw fail
// (why): with no evidence when h is no longer a member, else with this
// node's report and those of witnesses that see h fail too.
func (n *Node) dropHolder(ctx context.Context, f billing.File, h string, why error) error {
	d := &billing.Drop{FileID: f.ID, Holder: h}
	var member bool
	n.ledger.Read(func(st *billing.State) { member = st.IsMember(h) })
	if member {
		own, err := n.report(f.ID, h, why)
		if err != nil {
			return err
		}
		d.Reports = append([]billing.FailureReport{own}, n.witnesses(ctx, f, h, billing.MinFailureReports-1)...)
		if len(d.Reports) < billing.MinFailureReports {
			if now, ok := n.ledgerFile(f.ID); ok && !slices.Contains(now.Holders, h) {
				// Dropped meanwhile (by another member): the witnesses
				// no longer see the holding.
				return fmt.Errorf("%w: %s no longer holds file %s", ErrConflict, h, f.ID)
			}
			return fmt.Errorf("%w: no other member confirms %s failing file %s", ErrUnavailable, h, f.ID)
		}
	}
	_, err := n.apply(ctx, billing.Command{Drop: d})
	return err
}

// witnesses asks members other than h and this node to check h for f,
// the other holders first, a few at a time, until need of them reported
// it failing or maxWitnessAsks were asked.
func (n *Node) witnesses(ctx context.Context, f billing.File, h string, need int) []billing.FailureReport {
	self := n.PeerID()
	var holders, others []string
	n.ledger.Read(func(st *billing.State) {
		for _, nd := range st.Nodes() {
			id := nd.PeerID
			switch {
			case id == h || id == self || !st.IsMember(id):
			case slices.Contains(f.Holders, id):
				holders = append(holders, id)
			default:
				others = append(others, id)
			}
		}
	})
	rand.Shuffle(len(holders), func(i, j int) { holders[i], holders[j] = holders[j], holders[i] })
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	candidates := append(holders, others...)
	candidates = candidates[:min(len(candidates), maxWitnessAsks)]
	var reports []billing.FailureReport
	for len(candidates) > 0 && len(reports) < need && ctx.Err() == nil {
		batch := candidates[:min(len(candidates), need-len(reports))]
		candidates = candidates[len(batch):]
		got := make([]*billing.FailureReport, len(batch))
		var wg sync.WaitGroup
		for i, w := range batch {
			p, err := peer.Decode(w)
			if err != nil {
				continue
			}
			wg.Go(func() {
				r, err := n.witness.Ask(ctx, p, f.ID, h)
				if err != nil {
					n.log.Debug("witness did not confirm a failing holder", "file", f.ID, "holder", h, "witness", w, "err", err)
					return
				}
				got[i] = &r
			})
		}
		wg.Wait()
		for _, r := range got {
			if r != nil {
				reports = append(reports, *r)
			}
		}
	}
	return reports
}

// witnessChecker answers other members' witness requests for this node.
type witnessChecker struct{ n *Node }

// Check challenges holder for fileID itself and signs a report when the
// holder fails; it refuses when its ledger does not show the holding
// (after catching up), when the holder passes, or when its check proves
// nothing.
func (w witnessChecker) Check(ctx context.Context, from peer.ID, fileID, holder string) (billing.FailureReport, error) {
	n := w.n
	if holder == n.PeerID() {
		return billing.FailureReport{}, fmt.Errorf("%w: asked about itself", witness.ErrUnknown)
	}
	f, ok := n.ledgerFile(fileID)
	if !ok || !slices.Contains(f.Holders, holder) {
		n.catchUp(ctx)
		if f, ok = n.ledgerFile(fileID); !ok || !slices.Contains(f.Holders, holder) {
			return billing.FailureReport{}, fmt.Errorf("%w: %s does not hold file %s in this ledger", witness.ErrUnknown, holder, fileID)
		}
	}
	switch err := n.checkHolder(ctx, f, holder); {
	case err == nil:
		return billing.FailureReport{}, witness.ErrHolderAnswered
	case errors.Is(err, errInconclusive):
		return billing.FailureReport{}, fmt.Errorf("%w: %v", witness.ErrUnknown, err)
	default:
		n.log.Info("confirmed a failing holder", "file", fileID, "holder", holder, "asked_by", from, "err", err)
		return n.report(fileID, holder, err)
	}
}
