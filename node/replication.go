package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/p2p"
	"github.com/ddsnet/dds/p2p/push"
)

// pushTimeout bounds one push of a file to one holder.
const pushTimeout = 10 * time.Minute

// placeAll places the paid files this node issued and repairs those it
// must; it runs at once when a payment kicks it, and on every tick (a
// retry after a failure or a restart).
func (n *Node) placeAll(ctx context.Context) {
	var ids []string
	self := n.PeerID()
	n.ledger.Read(func(st *billing.State) { ids = st.Leases(self) })
	gone := n.goneHolders()
	for _, id := range ids {
		n.repair(ctx, id, gone)
		if err := n.place(ctx, id); err != nil && ctx.Err() == nil {
			n.log.Warn("place paid file", "file", id, "err", err)
		}
	}
}

// kickPlacement wakes the placement loop.
func (n *Node) kickPlacement() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// place stores a paid file on Replicas holders: this node first when it has
// room, then the live peers with room whose ids are XOR-closest to the cid.
// Each other holder gets the chunks it lacks over the push protocol and
// answers with a signed receipt; the ledger records the holders with their
// receipts. Idempotent: after a crash or a failed holder it picks up where
// the ledger stands.
func (n *Node) place(ctx context.Context, id string) error {
	n.placing.Lock()
	defer n.placing.Unlock()
	f, ok := n.ledgerFile(id)
	if !ok {
		return fmt.Errorf("%w: no file %s", ErrNotFound, id)
	}
	self := n.PeerID()
	s, _ := n.settings()
	if !f.Placing(s.Replicas) || n.placer(f, n.goneHolders()) != self {
		return nil // done, or another node's to place
	}
	root, err := cid.Decode(f.CID)
	if err != nil {
		return fmt.Errorf("file %s has a bad cid: %w", id, err)
	}
	m, err := n.store.Manifest(ctx, root)
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", id, err)
	}
	need := s.Replicas - len(f.Holders)
	// The holders verify every chunk they get: read them unhashed.
	reads := newSharedReads(func(ctx context.Context, c cid.Cid) ([]byte, error) {
		return peerStore{n}.Read(ctx, c, nil)
	}, sharedReadsKept)
	receipts, errs := n.copyTo(ctx, n.holderCandidates(f), need, func(ctx context.Context, h string) (billing.Receipt, error) {
		if h == self {
			return n.holdLocally(ctx, f, root)
		}
		leave := reads.join()
		defer leave()
		rc, err := n.pushTo(ctx, h, f, root, m, reads.get)
		return rc, n.checkOwnCopy(ctx, m, err)
	})
	if len(receipts) > 0 {
		if _, err := n.apply(ctx, billing.Command{Hold: &billing.Hold{FileID: id, Receipts: receipts}}); err != nil {
			return fmt.Errorf("record holders of %s: %w", id, err)
		}
	}
	if len(receipts) < need {
		return fmt.Errorf("%d of %d holders for %s: %w", len(f.Holders)+len(receipts), s.Replicas, id, errors.Join(errs...))
	}
	n.log.Info("file stored", "file", id, "holders", len(f.Holders)+len(receipts))
	return nil
}

// errOwnCopy reports a push that failed because this node's copy of a
// chunk is bad: the next candidate would fail alike.
var errOwnCopy = errors.New("this node's copy of a chunk fails its cid (queued for repair)")

// checkOwnCopy returns a push's error, or errOwnCopy when the holder found
// a chunk bad and this node's copy of it fails verification too (the
// chunk is then queued for repair from the other holders).
func (n *Node) checkOwnCopy(ctx context.Context, m *chunk.Manifest, err error) error {
	var bad *push.BadChunkError
	if !errors.As(err, &bad) {
		return err
	}
	c := m.Chunks[bad.Index].CID
	if _, verr := (verifiedStore{n}).Get(ctx, c); errors.Is(verr, chunk.ErrHashMismatch) {
		return fmt.Errorf("chunk %d (%s): %w", bad.Index, c, errOwnCopy)
	}
	return err
}

// copyTo gets need receipts from the candidates, in order: need copies run
// at once, and each one that fails passes to the next candidate (unless
// this node's own copy is bad). Each worker stops at its first receipt, so
// no more than need are made.
func (n *Node) copyTo(ctx context.Context, cands []string, need int, copyOne func(context.Context, string) (billing.Receipt, error)) ([]billing.Receipt, []error) {
	var (
		mu       sync.Mutex
		next     int
		receipts []billing.Receipt
		errs     []error
		wg       sync.WaitGroup
	)
	for range min(need, len(cands)) {
		wg.Go(func() {
			for {
				mu.Lock()
				if next >= len(cands) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				h := cands[next]
				next++
				mu.Unlock()
				rc, err := copyOne(ctx, h)
				mu.Lock()
				if err == nil {
					receipts = append(receipts, rc)
					mu.Unlock()
					return
				}
				errs = append(errs, fmt.Errorf("%s: %w", h, err))
				mu.Unlock()
				if errors.Is(err, errOwnCopy) {
					return
				}
			}
		})
	}
	wg.Wait()
	return receipts, errs
}

// placer is the node that places f: its issuer until a holder is
// recorded, then the holder with the lowest id that is not gone. Every
// node computes the same from the same ledger and feed.
func (n *Node) placer(f billing.File, gone map[string]bool) string {
	if len(f.Holders) == 0 {
		return f.Issuer
	}
	hs := slices.Clone(f.Holders)
	slices.Sort(hs)
	for _, h := range hs {
		if !gone[h] {
			return h
		}
	}
	return f.Issuer
}

// goneHolders are the peers to replace: those the status feed heard from
// and then not for twice the peer timeout, and the registered nodes it has
// not heard from at all in twice the peer timeout since it started (a node
// killed before its first status reached this one).
func (n *Node) goneHolders() map[string]bool {
	gone := map[string]bool{}
	if n.feed == nil {
		return gone
	}
	cutoff := time.Now().Add(-2 * n.cfg.PeerTimeout)
	heard := map[string]bool{n.PeerID(): true}
	for _, p := range n.feed.Peers() {
		heard[p.Status.PeerID] = true
		if p.LastSeen.Before(cutoff) {
			gone[p.Status.PeerID] = true
		}
	}
	if n.feedStarted.Before(cutoff) {
		n.ledger.Read(func(st *billing.State) {
			for _, nd := range st.Nodes() {
				if !heard[nd.PeerID] {
					gone[nd.PeerID] = true
				}
			}
		})
	}
	return gone
}

// repair drops the gone holders of a file when this node is the one to
// place it (the lowest live holder): the placement that follows copies it
// to new holders. Rate-limited by the loop's tick; idempotent, since the
// ledger refuses to drop a holder twice and placement stops at Replicas.
func (n *Node) repair(ctx context.Context, id string, gone map[string]bool) {
	if len(gone) == 0 {
		return
	}
	f, ok := n.ledgerFile(id)
	if !ok || n.placer(f, gone) != n.PeerID() {
		return
	}
	for _, h := range f.Holders {
		if !gone[h] {
			continue
		}
		// Silent in the feed: this node checks for itself before it
		// reports the holder (the feed may lag, or be all that failed);
		// a holder removed from the network needs no check.
		var v error = errNotMember
		var member bool
		n.ledger.Read(func(st *billing.State) { member = st.IsMember(h) })
		if member {
			v = n.checkHolder(ctx, f, h)
		}
		if v == nil || errors.Is(v, errInconclusive) {
			n.log.Debug("a holder silent in the feed answers for its file", "file", id, "holder", h, "err", v)
			continue
		}
		if err := n.dropHolder(ctx, f, h, fmt.Errorf("silent in the feed, and %w", v)); err != nil {
			if ctx.Err() == nil && !errors.Is(err, ErrConflict) {
				n.log.Warn("drop a gone holder", "file", id, "holder", h, "err", err)
			}
			continue
		}
		n.event(slog.LevelInfo, Event{Kind: EventHolderReplaced, Message: "holder gone: repairing", File: id, Peer: h})
	}
}

// holdLocally pins a file for its lease on this node and signs the receipt.
func (n *Node) holdLocally(ctx context.Context, f billing.File, root cid.Cid) (billing.Receipt, error) {
	if err := n.store.Pin(ctx, leasePrefix+f.ID, root); err != nil {
		return billing.Receipt{}, fmt.Errorf("pin for its lease: %w", err)
	}
	rc := billing.Receipt{FileID: f.ID, CID: f.CID, Size: f.Size, Holder: n.PeerID()}
	sig, err := n.host.Sign(rc.Canonical())
	if err != nil {
		return billing.Receipt{}, fmt.Errorf("sign receipt: %w", err)
	}
	rc.Signature = sig
	return rc, nil
}

// pushTo copies a file to holder h, its chunks read with read, and returns
// its receipt.
func (n *Node) pushTo(ctx context.Context, h string, f billing.File, root cid.Cid, m *chunk.Manifest, read func(context.Context, cid.Cid) ([]byte, error)) (billing.Receipt, error) {
	id, err := peer.Decode(h)
	if err != nil {
		return billing.Receipt{}, err
	}
	key, err := p2p.PublicKeyOf(id)
	if err != nil {
		return billing.Receipt{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	return n.push.Push(ctx, id, key, f.ID, root, m, read)
}

// holderCandidates orders the nodes that may hold f: this node first (the
// bytes are staged here), then the registered peers XOR-closest to the cid,
// but for those the feed shows gone or without room; the holders already
// recorded are left out.
func (n *Node) holderCandidates(f billing.File) []string {
	self := n.PeerID()
	taken := map[string]bool{}
	for _, h := range f.Holders {
		taken[h] = true
	}
	var out []string
	if !taken[self] {
		out = append(out, self) // its bytes are staged here already
	}
	// Leave out the peers the feed knows gone or full; one not heard from
	// yet is tried (a full or absent one refuses or fails, and the next
	// candidate stands in).
	skip := map[string]bool{}
	if n.feed != nil {
		for _, p := range n.feed.Peers() {
			skip[p.Status.PeerID] = true
		}
		for _, p := range n.feed.Live(n.cfg.PeerTimeout) {
			skip[p.Status.PeerID] = p.Status.Free < f.Size
		}
	}
	var nodes []billing.Node
	n.ledger.Read(func(st *billing.State) { nodes = st.Nodes() })
	var ids []string
	for _, nd := range nodes {
		if nd.PeerID != self && !taken[nd.PeerID] && !skip[nd.PeerID] {
			ids = append(ids, nd.PeerID)
		}
	}
	// Peers that failed an audit lately come last, whatever their distance.
	suspect := n.suspects()
	ids = byDistance(f.CID, ids)
	slices.SortStableFunc(ids, func(a, b string) int {
		switch {
		case suspect[a] && !suspect[b]:
			return 1
		case suspect[b] && !suspect[a]:
			return -1
		}
		return 0
	})
	return append(out, ids...)
}

// acceptPush decides at once whether this node takes a file pushed to it:
// room for it, and a lease in this replica of the ledger that allows it,
// or none yet (see checkLease); confirmPush then confirms the lease
// while the chunks come in.
func (n *Node) acceptPush(_ context.Context, from peer.ID, o push.Offer) error {
	if n.free() < o.Size {
		return fmt.Errorf("no room: %d bytes free, %d offered", n.free(), o.Size)
	}
	f, ok := n.ledgerFile(o.FileID)
	if final, err := checkLease(f, ok, from.String(), o); err != nil && final {
		return err
	}
	return nil
}

// confirmPush checks, while the chunks come in, that this replica of the
// ledger has a paid, live lease for a file pushed to this node
// (checkLease). The pusher pushes once the payment (or the hold that made
// it a holder) is committed, so when this replica has not seen it yet it
// catches up with the leader (freshFile) and looks again.
func (n *Node) confirmPush(ctx context.Context, from peer.ID, o push.Offer) error {
	f, ok, _ := n.freshFile(ctx, o.FileID, func(f billing.File) bool {
		_, err := checkLease(f, true, from.String(), o)
		return err != nil
	})
	if _, err := checkLease(f, ok, from.String(), o); err != nil {
		return err
	}
	n.log.Debug("accept push", "file", o.FileID, "from", from)
	return nil
}

// checkLease reports whether the ledger's record of a pushed file (f, ok:
// whether there is one) allows the push: a paid, live lease naming the
// offer's cid and size, pushed by the file's issuer or one of its holders
// (the node that places or repairs it is always one of them). final says
// that waiting for this replica to catch up would not change a refusal:
// the cid or size differ, or the lease is paid and the pusher is neither.
func checkLease(f billing.File, ok bool, pusher string, o push.Offer) (final bool, err error) {
	if !ok {
		return false, fmt.Errorf("no file %s in the ledger", o.FileID)
	}
	if f.CID != o.Root || f.Size != o.Size {
		return true, fmt.Errorf("offer %s/%d does not match the ledger's %s/%d", o.Root, o.Size, f.CID, f.Size)
	}
	paid := f.State == billing.StateStoring || f.State == billing.StateStored || f.State == billing.StateExtensionQuoted
	if !paid {
		return f.Ended(), fmt.Errorf("file %s is %s, not a paid lease", o.FileID, f.State)
	}
	if f.Issuer != pusher && !slices.Contains(f.Holders, pusher) {
		return true, fmt.Errorf("%s is neither the issuer nor a holder of file %s", pusher, o.FileID)
	}
	return true, nil
}
