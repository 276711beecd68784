package node

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/chunk"
)

// unpaid holds the chunks (and manifests) of the uploads this node staged
// whose quote is not paid yet. Peers fetch the chunks of paid files only:
// a member that read the cid of an unpaid upload in the ledger's quote
// could otherwise download it from this node, stored and served for free
// for the quote's lifetime.
//
// An upload is added as it is staged (Upload), and at start for the
// staged pins of quoted files (loadUnpaid); it leaves once its file is
// paid (found so by peerStore.Read, or by the sweep) or its quote ended.
type unpaid struct {
	mu     sync.Mutex
	byCID  map[cid.Cid][]string // cid -> the unpaid uploads holding it
	byFile map[string][]cid.Cid // upload -> its cids (root first)
	peak   int                  // the most uploads held since the maps were made
}

func newUnpaid() *unpaid {
	return &unpaid{byCID: map[cid.Cid][]string{}, byFile: map[string][]cid.Cid{}}
}

// add records the cids of upload id (manifest root and chunks).
func (u *unpaid) add(id string, root cid.Cid, m *chunk.Manifest) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.byFile[id]; ok {
		return
	}
	cids := make([]cid.Cid, 0, len(m.Chunks)+1)
	cids = append(cids, root)
	seen := map[cid.Cid]bool{root: true}
	for _, r := range m.Chunks {
		if !seen[r.CID] {
			seen[r.CID] = true
			cids = append(cids, r.CID)
		}
	}
	u.byFile[id] = cids
	u.peak = max(u.peak, len(u.byFile))
	for _, c := range cids {
		u.byCID[c] = append(u.byCID[c], id)
	}
}

// remove forgets upload id.
func (u *unpaid) remove(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.byFile[id] {
		ids := u.byCID[c]
		for i, x := range ids {
			if x == id {
				ids = append(ids[:i], ids[i+1:]...)
				break
			}
		}
		if len(ids) == 0 {
			delete(u.byCID, c)
		} else {
			u.byCID[c] = ids
		}
	}
	delete(u.byFile, id)
	// A Go map never gives back the room it grew to: once most of the
	// uploads it held have gone (100,000 quotes lapsed unpaid held 16 MiB
	// here, BenchmarkRetentionSoak), the maps are made again at their size.
	if u.peak > 1024 && len(u.byFile) < u.peak/4 {
		byFile := make(map[string][]cid.Cid, len(u.byFile))
		for k, v := range u.byFile {
			byFile[k] = v
		}
		byCID := make(map[cid.Cid][]string, len(u.byCID))
		for k, v := range u.byCID {
			byCID[k] = v
		}
		u.byFile, u.byCID, u.peak = byFile, byCID, len(byFile)
	}
}

// uploads returns the unpaid uploads that hold c (nil for almost every c).
func (u *unpaid) uploads(c cid.Cid) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if ids := u.byCID[c]; len(ids) > 0 {
		return append([]string(nil), ids...)
	}
	return nil
}

// ids returns every upload held.
func (u *unpaid) ids() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.byFile))
	for id := range u.byFile {
		out = append(out, id)
	}
	return out
}

// servable reports whether peers may fetch c from this node: unless c
// belongs only to uploads whose quote is still unpaid. An upload found
// paid leaves the set.
//
// A peer asks for an upload's chunks once its own replica shows it paid,
// which may be a moment before this one does: a cid still unpaid here is
// looked up again after catching up with the leader's ledger (bounded by
// catchUpTimeout), so a download right after the payment does not fail.
func (n *Node) servable(ctx context.Context, c cid.Cid) bool {
	ids := n.unpaid.uploads(c)
	if len(ids) == 0 {
		return true
	}
	if n.paidUpload(ids) {
		return true
	}
	n.catchUp(ctx)
	return n.paidUpload(ids)
}

// paidUpload reports whether any of the uploads ids is paid on this
// replica, and forgets those that are.
func (n *Node) paidUpload(ids []string) bool {
	for _, id := range ids {
		if f, ok := n.ledgerFile(id); ok && f.Leased() {
			n.unpaid.remove(id)
			return true
		}
	}
	return false
}

// sweepUnpaid forgets the uploads that are no longer unpaid and waiting:
// paid, or whose quote ended (their staged data goes with it). An upload
// whose quote this replica does not show yet stays while it is staging.
func (n *Node) sweepUnpaid() {
	for _, id := range n.unpaid.ids() {
		f, ok := n.ledgerFile(id)
		if ok && f.State == billing.StateQuoted {
			continue
		}
		if _, staging := n.staging.Load(id); !ok && staging {
			continue
		}
		n.unpaid.remove(id)
	}
}

// loadUnpaid records the staged uploads of quoted files that a node
// started again holds (their chunks are still not to be served).
func (n *Node) loadUnpaid(ctx context.Context) {
	pins, err := n.store.Pins(ctx, stagePrefix)
	if err != nil {
		n.log.Warn("list staged uploads", "err", err)
		return
	}
	for owner, root := range pins {
		id := owner[len(stagePrefix):]
		if f, ok := n.ledgerFile(id); !ok || f.State != billing.StateQuoted {
			continue
		}
		m, err := n.store.Manifest(ctx, root)
		if err != nil {
			continue
		}
		n.unpaid.add(id, root, m)
	}
}
