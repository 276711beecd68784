package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/p2p/audit"
	"github.com/ddsnet/dds/p2p/fetch"
)

// Audits. Every AuditInterval a holder challenges the other holders of
// the files it holds, each for one random chunk (p2p/audit), up to
// auditBudget challenges a round, and every node audits the holders of
// outsiderAudits files it does not hold (auditAsOutsider). A holder that
// fails (lacks the chunk, finds its copy corrupt, answers a wrong proof,
// or does not answer within the audit timeout) gets a strike; at
// auditStrikes strikes in a row, or at once for a wrong proof (a lie, not
// an accident), the auditor drops it from the file in the ledger, and the
// file's placer copies the file to a new holder. A pass clears the strikes. Failures also make the peer a
// suspect: placement and reads try it last while its failure is recent.
const (
	auditBudget  = 32
	auditStrikes = 2
	// outsiderAudits is how many files a round audits that this node
	// knows from the ledger but does not hold (see auditAsOutsider).
	outsiderAudits = 2
	// chunkRepairs bounds the corrupt chunks waiting for a good copy.
	chunkRepairs = 256
	// repairTimeout bounds the refetch of one corrupt chunk.
	repairTimeout = time.Minute
	// fetchTimeout bounds one chunk request to a holder.
	fetchTimeout = 5 * time.Second
)

// qos is what this node has seen of its peers: audits passed and failed,
// and the strikes of each holder per file.
type qos struct {
	mu      sync.Mutex
	peers   map[string]*peerQoS
	strikes map[[2]string]int // file id, holder -> failures in a row
}

type peerQoS struct {
	passed, failed int
	lastFail       time.Time
}

func newQoS() *qos {
	return &qos{peers: map[string]*peerQoS{}, strikes: map[[2]string]int{}}
}

func (q *qos) peer(id string) *peerQoS {
	p := q.peers[id]
	if p == nil {
		p = &peerQoS{}
		q.peers[id] = p
	}
	return p
}

// pass records a proven challenge.
func (q *qos) pass(file, holder string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.peer(holder).passed++
	delete(q.strikes, [2]string{file, holder})
}

// fail records a failed challenge and returns the holder's strikes for
// the file.
func (q *qos) fail(file, holder string, now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.peer(holder)
	p.failed++
	p.lastFail = now
	k := [2]string{file, holder}
	q.strikes[k]++
	return q.strikes[k]
}

// forget drops the strikes of a holder no longer holding the file.
func (q *qos) forget(file, holder string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.strikes, [2]string{file, holder})
}

// suspects are the peers that failed an audit since the given time.
func (q *qos) suspects(since time.Time) map[string]bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]bool{}
	for id, p := range q.peers {
		if p.lastFail.After(since) {
			out[id] = true
		}
	}
	return out
}

// suspects are the peers whose last failed audit is recent: ten audit
// rounds.
func (n *Node) suspects() map[string]bool {
	return n.qos.suspects(time.Now().Add(-10 * n.cfg.AuditInterval))
}

// auditRound challenges the co-holders of a random sample of the files
// this node holds.
func (n *Node) auditRound(ctx context.Context) {
	self := n.PeerID()
	var files []billing.File
	n.ledger.Read(func(st *billing.State) {
		for _, id := range st.Leases(self) {
			if f, ok := st.File(id); ok && len(f.Holders) > 1 && slices.Contains(f.Holders, self) {
				files = append(files, f)
			}
		}
	})
	rand.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	budget := auditBudget
	for _, f := range files {
		if budget <= 0 || ctx.Err() != nil {
			return
		}
		root, err := cid.Decode(f.CID)
		if err != nil {
			continue
		}
		m, err := n.store.Manifest(ctx, root)
		if err != nil || len(m.Chunks) == 0 {
			continue // not here (yet): reconcile and placement see to it
		}
		for _, h := range f.Holders {
			if h == self || budget <= 0 {
				continue
			}
			p, err := peer.Decode(h)
			if err != nil {
				continue
			}
			budget--
			c := m.Chunks[rand.IntN(len(m.Chunks))].CID
			n.judge(ctx, f, h, n.audit.Challenge(ctx, p, c))
		}
	}
}

// auditAsOutsider audits the holders of a random sample of the files this
// node knows but does not hold: it fetches one random chunk from one of
// them (the fetch verifies it against its CID) and challenges the others
// with those bytes. The holder that served the chunk proved it has it;
// one that lacks it is judged like a failed challenge, and one that
// served wrong bytes is challenged with the good ones (a spoiled copy then
// shows as corrupt, not as a lie). Holders audit each other too; these
// checks come from nodes with no copy of their own, and they reach files
// whose holders are down to one.
func (n *Node) auditAsOutsider(ctx context.Context) {
	self := n.PeerID()
	var files []billing.File
	n.ledger.Read(func(st *billing.State) {
		count := st.FileCount()
		for try := 0; count > 0 && try < 8*outsiderAudits && len(files) < outsiderAudits; try++ {
			f, ok := st.FileAt(rand.IntN(count))
			if !ok || len(f.Holders) == 0 || slices.Contains(f.Holders, self) ||
				slices.ContainsFunc(files, func(g billing.File) bool { return g.ID == f.ID }) {
				continue
			}
			switch f.State {
			case billing.StateStoring, billing.StateStored, billing.StateExtensionQuoted:
				files = append(files, f)
			}
		}
	})
	for _, f := range files {
		if ctx.Err() != nil {
			return
		}
		n.auditFrom(ctx, f)
	}
}

// auditFrom audits the holders of f, a file this node does not hold, for
// one random chunk (see auditAsOutsider).
func (n *Node) auditFrom(ctx context.Context, f billing.File) {
	root, err := cid.Decode(f.CID)
	if err != nil {
		return
	}
	var holders []peer.ID
	for _, h := range f.Holders {
		if p, err := peer.Decode(h); err == nil {
			holders = append(holders, p)
		}
	}
	rand.Shuffle(len(holders), func(i, j int) { holders[i], holders[j] = holders[j], holders[i] })
	m, err := n.fetch.Manifest(ctx, root, holders)
	if err != nil || len(m.Chunks) == 0 {
		return // no holder reachable: the status feed and repair see to it
	}
	c := m.Chunks[rand.IntN(len(m.Chunks))].CID
	for i, src := range holders {
		fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		data, err := n.fetch.Get(fctx, src, c)
		cancel()
		switch {
		case errors.Is(err, fetch.ErrBadChunk):
			// Holders send chunks unhashed (chunk.Store.GetForPeer), so an
			// honest one whose disk spoiled this chunk sends it spoiled: it
			// is challenged below with good bytes from another holder, and
			// its own verified read tells corrupt (it repairs) from a lie.
			continue
		case errors.Is(err, fetch.ErrNotFound):
			n.judge(ctx, f, src.String(), fmt.Errorf("%w: %v", audit.ErrMissing, err))
			continue
		case err != nil:
			continue // unreachable: try the next one
		}
		n.metrics.audits.WithLabelValues("pass").Inc()
		n.qos.pass(f.ID, src.String())
		for j, p := range holders {
			if j != i && ctx.Err() == nil {
				n.judge(ctx, f, p.String(), n.audit.ChallengeWith(ctx, p, c, data))
			}
		}
		return
	}
}

// judge acts on the outcome of a challenge of holder h for a chunk of f.
func (n *Node) judge(ctx context.Context, f billing.File, h string, err error) {
	v := verdict(ctx, err)
	switch {
	case v == nil:
		n.metrics.audits.WithLabelValues("pass").Inc()
		n.qos.pass(f.ID, h)
		return
	case errors.Is(err, chunk.ErrHashMismatch), errors.Is(err, chunk.ErrNotFound):
		// This node's own copy is at fault (and queued for repair).
		n.metrics.audits.WithLabelValues("unchecked").Inc()
		return
	case errors.Is(err, audit.ErrBusy):
		// An answer: the holder serves as many challenges as it can at
		// once. The next round asks again.
		n.metrics.audits.WithLabelValues("unreachable").Inc()
		return
	case errors.Is(v, errInconclusive):
		return // this node is stopping: no verdict
	case unanswered(v):
		// A holder that publishes its status but does not answer for
		// what it holds fails like one that lacks the chunk (the status
		// feed alone would keep it).
		n.metrics.audits.WithLabelValues("unreachable").Inc()
		n.unreachable.note(h, time.Now())
	}
	n.metrics.audits.WithLabelValues("fail").Inc()
	strikes := n.qos.fail(f.ID, h, time.Now())
	n.event(slog.LevelWarn, Event{Kind: EventAuditFailed, Message: "holder failed an audit", File: f.ID, Peer: h}, "strikes", strikes, "err", err)
	if strikes < auditStrikes && !errors.Is(err, audit.ErrWrongProof) {
		return // a corrupt or missing copy gets a round to repair itself
	}
	if err := n.dropHolder(ctx, f, h, v); err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrConflict) {
			n.log.Warn("drop a holder that failed its audits", "file", f.ID, "holder", h, "err", err)
		}
		return
	}
	n.qos.forget(f.ID, h)
	n.event(slog.LevelWarn, Event{Kind: EventHolderReplaced, Message: "holder dropped after failed audits: repairing", File: f.ID, Peer: h})
	n.kickPlacement()
}

// noteCorrupt queues a chunk of this node's store that failed
// verification for a good copy from another holder.
func (n *Node) noteCorrupt(c cid.Cid) {
	n.repairMu.Lock()
	defer n.repairMu.Unlock()
	if n.repairing[c] {
		return
	}
	select {
	case n.repairs <- c:
		n.repairing[c] = true
	default:
		n.log.Warn("chunk repair queue full; the next read or audit retries", "cid", c)
	}
}

// repairLoop fetches good copies of the corrupt chunks queued by
// noteCorrupt from the other holders of the files this node holds; the
// store's Put replaces the bad bytes.
func (n *Node) repairLoop(ctx context.Context) {
	defer n.wg.Done()
	retry := time.NewTicker(n.cfg.RepairGiveUp / 5)
	defer retry.Stop()
	for {
		var c cid.Cid
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			n.repairMu.Lock()
			again := slices.Collect(maps.Keys(n.unrepaired))
			n.repairMu.Unlock()
			for _, c := range again {
				n.noteCorrupt(c)
			}
			continue
		case c = <-n.repairs:
		}
		err := n.repairChunk(ctx, c)
		n.repairMu.Lock()
		delete(n.repairing, c)
		first, failed := n.unrepaired[c]
		switch {
		case err == nil:
			delete(n.unrepaired, c)
		case !failed:
			first = time.Now()
			n.unrepaired[c] = first
		}
		n.repairMu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			n.metrics.chunkRepairFails.Inc()
			n.log.Warn("repair a corrupt chunk", "cid", c, "err", err, "failing_for", time.Since(first).Round(time.Second))
			if time.Since(first) >= n.cfg.RepairGiveUp {
				n.releaseBad(ctx, c)
			}
			continue
		}
		n.metrics.chunkRepairs.Inc()
		n.log.Info("corrupt chunk replaced by a good copy", "cid", c)
		n.scrub(ctx, c)
	}
}

// releaseBad gives up the holdings of the files this node holds that
// contain c, a chunk of its store that went bad and that no other holder
// had a good copy of for RepairGiveUp: the node cannot serve them whole,
// and the ledger would go on saying it holds them (a holder's own release
// needs no reports). Placement then finds the files another holder, from
// a good copy elsewhere. The copy here stays until then.
func (n *Node) releaseBad(ctx context.Context, c cid.Cid) {
	self := n.PeerID()
	var held []billing.File
	n.ledger.Read(func(st *billing.State) {
		for _, id := range st.Leases(self) {
			if f, ok := st.File(id); ok && slices.Contains(f.Holders, self) {
				held = append(held, f)
			}
		}
	})
	released := true
	for _, f := range held {
		root, err := cid.Decode(f.CID)
		if err != nil {
			continue
		}
		m, err := n.store.Manifest(ctx, root)
		if err == nil && !slices.ContainsFunc(m.Chunks, func(ref chunk.Ref) bool { return ref.CID == c }) {
			continue
		}
		// (A manifest that cannot be read is as bad as the chunk.)
		if _, err := n.apply(ctx, billing.Command{Drop: &billing.Drop{FileID: f.ID, Holder: self}}); err != nil {
			released = false
			n.log.Warn("release the holding of a file this node cannot serve", "file", f.ID, "cid", c, "err", err)
			continue
		}
		n.log.Warn("holding released: this node's copy of a chunk went bad and no other holder had a good one", "file", f.ID, "cid", c, "after", n.cfg.RepairGiveUp)
	}
	if released {
		n.repairMu.Lock()
		delete(n.unrepaired, c)
		n.repairMu.Unlock()
	}
	n.kickPlacement()
}

// scrub verifies every chunk of the files this node holds that contain c,
// a chunk just found corrupt: damage rarely comes alone (a bad sector, a
// bad write), and each bad chunk found is queued for repair now rather
// than left for a read or an audit to find.
func (n *Node) scrub(ctx context.Context, c cid.Cid) {
	self := n.PeerID()
	var roots []string
	n.ledger.Read(func(st *billing.State) {
		for _, id := range st.Leases(self) {
			if f, ok := st.File(id); ok && slices.Contains(f.Holders, self) {
				roots = append(roots, f.CID)
			}
		}
	})
	slices.Sort(roots)
	for _, r := range slices.Compact(roots) {
		root, err := cid.Decode(r)
		if err != nil {
			continue
		}
		m, err := n.store.Manifest(ctx, root)
		if err != nil || !slices.ContainsFunc(m.Chunks, func(ref chunk.Ref) bool { return ref.CID == c }) {
			continue
		}
		for _, ref := range m.Chunks {
			if ctx.Err() != nil {
				return
			}
			if _, err := n.store.Get(ctx, ref.CID); errors.Is(err, chunk.ErrHashMismatch) || errors.Is(err, chunk.ErrNotFound) {
				n.noteCorrupt(ref.CID)
			}
		}
	}
}

func (n *Node) repairChunk(ctx context.Context, c cid.Cid) error {
	ctx, cancel := context.WithTimeout(ctx, repairTimeout)
	defer cancel()
	self := n.PeerID()
	seen := map[string]bool{self: true}
	var peers []peer.ID
	n.ledger.Read(func(st *billing.State) {
		for _, id := range st.Leases(self) {
			f, _ := st.File(id)
			for _, h := range f.Holders {
				if !seen[h] {
					seen[h] = true
					if p, err := peer.Decode(h); err == nil {
						peers = append(peers, p)
					}
				}
			}
		}
	})
	var errs []error
	for _, p := range n.liveFirst(peers) {
		data, err := n.fetch.Get(ctx, p, c)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return n.store.Put(ctx, c, data)
	}
	if len(errs) == 0 {
		return errors.New("no other holder to fetch it from")
	}
	return errors.Join(errs...)
}

// verifiedStore is the store as the audit service reads it (answering
// challenges, and checking proofs against this node's own copy): a chunk
// that fails verification is queued for repair.
type verifiedStore struct{ n *Node }

func (v verifiedStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := v.n.store.Get(ctx, c)
	return data, v.n.noteIfCorrupt(c, err)
}

// peerStore is the store as the fetch service reads it to serve peers:
// chunks unhashed (chunk.Store.GetForPeer), since the fetching peer
// verifies each one and asks another holder for bytes that fail; a chunk
// known corrupt is queued for repair.
type peerStore struct{ n *Node }

func (p peerStore) Read(ctx context.Context, c cid.Cid, dst []byte) ([]byte, error) {
	if !p.n.servable(ctx, c) {
		return nil, chunk.ErrNotFound // an unpaid upload's: not for peers
	}
	data, err := p.n.store.GetForPeer(ctx, c, dst)
	return data, p.n.noteIfCorrupt(c, err)
}

// noteIfCorrupt queues c for repair when err, of a read of it from the
// store, says its copy is corrupt, and returns err.
func (n *Node) noteIfCorrupt(c cid.Cid, err error) error {
	if errors.Is(err, chunk.ErrHashMismatch) {
		n.noteCorrupt(c)
	}
	return err
}

// healingReader reads a file this node holds from its own store; when a
// chunk fails verification (or is missing), it queues the chunk for
// repair and reads on from the other holders, so the reader never sees
// the bad bytes nor an error the network can make up for.
type healingReader struct {
	n       *Node
	ctx     context.Context
	m       *chunk.Manifest
	holders []peer.ID // the other holders
	off     int64     // next byte
	end     int64     // one past the last byte
	r       io.ReadCloser
	local   bool
}

func (h *healingReader) Read(p []byte) (int, error) {
	k, err := h.r.Read(p)
	h.off += int64(k)
	if err == nil || err == io.EOF || !h.local || len(h.holders) == 0 ||
		!(errors.Is(err, chunk.ErrHashMismatch) || errors.Is(err, chunk.ErrNotFound)) {
		return k, err
	}
	// The chunk at h.off is bad or gone here (the store's reader returns
	// every byte before it first).
	if i := h.off / h.m.ChunkSize; i < int64(len(h.m.Chunks)) {
		h.n.noteCorrupt(h.m.Chunks[i].CID)
	}
	h.n.log.Warn("local copy unreadable: reading on from other holders", "root", h.m.CID(), "offset", h.off, "err", err)
	_ = h.r.Close()
	h.r = h.n.fetch.NewReader(h.ctx, h.m, h.holders, h.off, h.end-h.off)
	h.local = false
	if k > 0 {
		return k, nil
	}
	return h.Read(p)
}

func (h *healingReader) Close() error { return h.r.Close() }
