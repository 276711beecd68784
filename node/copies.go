package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddsnet/dds/billing"
)

// A paid file is on its issuer alone until the first holder confirms its
// copy (the issuer places it at once, so that lasts one push and one
// ledger write). If the issuer is lost in that window nothing else has the
// bytes: the file would stay storing, and every node answer 503 for it,
// without a word. So every node watches for paid files none of whose
// copies is on a live node (a holder, or the issuer before any holder):
// each is logged once when found, once more when a copy is reachable
// again, and counted in dds_files_without_reachable_copy. A node is gone
// when the status feed has not heard from it for twice the peer timeout,
// or when it was removed from the network.

// copyWatch is what a node has reported of files without a reachable copy.
type copyWatch struct {
	mu       sync.Mutex
	reported map[string]bool // file ids reported
	count    atomic.Int64
}

// checkCopies reports the paid files without a copy on a live node, and
// those that have one again.
func (n *Node) checkCopies(context.Context) {
	gone := n.goneHolders()
	var files []billing.File
	n.ledger.Read(func(st *billing.State) {
		files = st.WithoutCopy(func(p string) bool { return !gone[p] && st.IsMember(p) })
	})
	w := &n.copies
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reported == nil {
		w.reported = map[string]bool{}
	}
	now := make(map[string]bool, len(files))
	for _, f := range files {
		now[f.ID] = true
		if w.reported[f.ID] {
			continue
		}
		w.reported[f.ID] = true
		on := f.Holders
		if len(on) == 0 {
			on = []string{f.Issuer}
		}
		n.log.Warn("paid file without a reachable copy: every node that has its bytes is gone; it cannot be read or repaired until one comes back",
			"file", f.ID, "cid", f.CID, "size", f.Size, "state", f.State, "copies_on", on,
			"paid_for", time.Since(f.StoredAt).Round(time.Second))
	}
	for id := range w.reported {
		if !now[id] {
			delete(w.reported, id)
			n.log.Info("paid file has a reachable copy again", "file", id)
		}
	}
	w.count.Store(int64(len(w.reported)))
}
