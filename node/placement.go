package node

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ddsnet/dds/billing"
)

// dropStaged unpins the staged data of uploads whose quote was cancelled or
// expired unpaid.
func (n *Node) dropStaged(ctx context.Context, ids []string) {
	for _, id := range ids {
		if err := n.store.Unpin(context.WithoutCancel(ctx), stagePrefix+id); err != nil {
			n.log.Warn("drop staged upload", "file", id, "err", err)
		}
	}
}

// every runs fn every interval until ctx ends; the node's WaitGroup owns
// the goroutine.
func (n *Node) every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	n.everyOrKicked(ctx, interval, nil, fn)
}

// everyOrKicked runs fn every interval, and at once whenever kick fires,
// until ctx ends; the node's WaitGroup owns the goroutine.
func (n *Node) everyOrKicked(ctx context.Context, interval time.Duration, kick <-chan struct{}, fn func(context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-kick:
			}
			fn(ctx)
		}
	}()
}

// expire sweeps the ledger for leases and quotes whose time is up, then
// reconciles the store's pins with the ledger.
func (n *Node) expire(ctx context.Context) {
	n.sweep(ctx)
	n.reconcile(ctx)
	n.sweepUnpaid()
}

// sweep asks the ledger to expire what is due; the leader does it for the
// network (the command is idempotent, so a stale leader is harmless).
func (n *Node) sweep(ctx context.Context) {
	if !n.raft.IsLeader() {
		return
	}
	if !n.sweepDue() {
		return
	}
	res, err := n.apply(ctx, billing.Command{Expire: &billing.Expire{}})
	if err != nil {
		if !errors.Is(err, ErrClosed) && ctx.Err() == nil {
			n.log.Warn("expiry sweep", "err", err)
		}
		return
	}
	if len(res.Expired)+len(res.Dropped) > 0 {
		n.log.Info("expired", "leases", len(res.Expired), "quotes", len(res.Dropped))
	}
}

// sweepDue reports whether any lease or open quote has reached its end, so
// an idle network does not grow its log with empty sweeps.
func (n *Node) sweepDue() bool {
	now := n.now()
	due := false
	n.ledger.Read(func(st *billing.State) { due = st.Due(now) })
	return due
}

// stagingGrace is how long the staged pin of an upload whose quote is not
// in this replica of the ledger is left alone: long past any quote's
// attestation and commit.
const stagingGrace = time.Minute

// reconcile brings the store's pins in line with the ledger: staged data of
// files no longer waiting for payment is dropped, leases that ended are
// unpinned, and paid files this node must place are placed. It is what makes
// a crash at any point between the ledger and the store harmless.
func (n *Node) reconcile(ctx context.Context) {
	pins, err := n.store.Pins(ctx, "")
	if err != nil {
		n.log.Warn("list pins", "err", err)
		return
	}
	// A pin is let go only on the word of a replica that caught up with
	// the leader in this pass: one that is behind, or lost its ledger and
	// is replaying it, or cannot reach a leader, would take live leases for
	// ended ones, or paid uploads for lapsed ones (and GC would free their
	// chunks).
	checked, caughtUp := false, false
	for owner := range pins {
		var id, kind string
		switch {
		case len(owner) > len(stagePrefix) && owner[:len(stagePrefix)] == stagePrefix:
			id, kind = owner[len(stagePrefix):], stagePrefix
		case len(owner) > len(leasePrefix) && owner[:len(leasePrefix)] == leasePrefix:
			id, kind = owner[len(leasePrefix):], leasePrefix
		default:
			continue
		}
		f, ok := n.ledgerFile(id)
		keep := ok
		if kind == stagePrefix {
			if ok {
				n.staging.Delete(id)
			} else if at, in := n.staging.Load(id); in && time.Since(at.(time.Time)) < stagingGrace {
				continue // an upload whose quote this replica does not have yet
			} else {
				n.staging.Delete(id)
			}
		}
		if ok {
			switch kind {
			case stagePrefix:
				keep = stagedNeeded(f, n.replicas())
			case leasePrefix:
				keep = keepLease(f, n.PeerID())
				if !keep && n.endedEarly(f) {
					keep = true
				}
			}
		} else if kind == leasePrefix && n.forgottenEarly(id) {
			keep = true
		}
		if !keep {
			// Staged data too: a replica that is behind may not know yet
			// the upload that was paid meanwhile (its chunks are not
			// placed yet: they are only here). (Also: a copy just pushed
			// here is pinned before this replica may show the holder it
			// replaced dropped.)
			if !checked {
				checked, caughtUp = true, n.catchUp(ctx)
			}
			if !caughtUp {
				continue // the next pass decides
			}
			f, ok := n.ledgerFile(id)
			switch {
			case ok && kind == leasePrefix && (keepLease(f, n.PeerID()) || n.endedEarly(f)):
				continue
			case ok && kind == stagePrefix && stagedNeeded(f, n.replicas()):
				continue
			case !ok && kind == leasePrefix && n.forgottenEarly(id):
				continue
			}
			if err := n.store.Unpin(ctx, owner); err != nil {
				n.log.Warn("unpin", "owner", owner, "err", err)
			} else if kind == leasePrefix {
				kick(n.gcKick) // a lease let go: its space comes back now, not at the next GC
			}
		}
	}
}

// stagedNeeded reports whether the staged bytes of upload f are still
// needed: while its quote waits for payment, and once paid until its
// copies are all placed (an extension quoted meanwhile included: the
// staged bytes were deleted then, the only copy of a paid file, found by
// the fault suite).
func stagedNeeded(f billing.File, replicas int) bool {
	return f.State == billing.StateQuoted || f.Placing(replicas)
}

// replicas is the network's number of holders per file.
func (n *Node) replicas() int {
	s, _ := n.settings()
	return s.Replicas
}

// keepLease reports whether this node (self) keeps its copy of f: while
// f's lease lives, unless f is fully stored elsewhere (a holder dropped
// while it was away lets its copy go then).
func keepLease(f billing.File, self string) bool {
	live := !f.Ended()
	dropped := f.State == billing.StateStored && !slices.Contains(f.Holders, self)
	return live && !dropped
}

// endedEarly reports whether the ledger ended f's lease before the lease's
// end by this node's own clock: its time ran ahead of the real one (a
// leader that stamped a command far in the future: a replica cannot tell
// when it applies it, all must apply the same). The copy is kept until the
// lease's end by this node's clock, so no one can erase the network's data
// by moving the ledger's time; the node says so once per file.
func (n *Node) endedEarly(f billing.File) bool {
	if (f.State != billing.StateExpired && f.State != billing.StateDeleted) || f.ExpiresAt.IsZero() || !n.now().Add(clockSkew).Before(f.ExpiresAt) {
		return false
	}
	if _, warned := n.earlyEnds.LoadOrStore(f.ID, true); !warned {
		n.log.Warn("the ledger ended a lease before its end by this node's clock: keeping the copy until then",
			"file", f.ID, "lease_end", f.ExpiresAt, "now", n.now())
	}
	return true
}

// forgottenEarly is endedEarly for a lease whose file the ledger forgot
// (its tombstone's retention ended, by the ledger's time): the lease's end
// comes from what the ledger keeps for reports (billing.State.ForgottenLease).
// A ledger time run ahead past the tombstone window must not erase the
// copy either.
func (n *Node) forgottenEarly(id string) bool {
	var end time.Time
	var ok bool
	n.ledger.Read(func(st *billing.State) { end, ok = st.ForgottenLease(id) })
	return ok && n.endedEarly(billing.File{ID: id, State: billing.StateExpired, ExpiresAt: end})
}

// collect removes the chunks that nothing pins any more.
func (n *Node) collect(ctx context.Context) {
	st, err := n.CollectGarbage(ctx)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("gc", "err", err)
		}
		return
	}
	if st.Chunks > 0 {
		n.log.Info("gc", "chunks", st.Chunks, "bytes", st.Bytes)
	}
}
