package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/consensus"
	"github.com/ddsnet/dds/internal/ratelimit"
	"github.com/ddsnet/dds/p2p/attest"
	"github.com/ddsnet/dds/p2p/feed"
	"github.com/ddsnet/dds/p2p/ledgerrpc"
	"github.com/ddsnet/dds/p2p/wire"
	"github.com/ddsnet/dds/p2p/witness"
)

// Bounds on the network calls.
const (
	catchUpTimeout = ledgerrpc.IndexTimeout
	clockSkew      = 5 * time.Second
)

// serveProtocols registers the node's stream protocols on its host.
func (n *Node) serveProtocols() {
	h := n.host.Libp2p()
	// Each peer's requests on all of them share one budget (peerRequests),
	// the witness protocol's too (registered with the services).
	n.peerLimits = wire.WithLimits(ratelimit.New(peerRequests, 2*peerRequests, maxPeerBuckets))
	limits := n.peerLimits
	attest.Register(h, attester{n}, limits)
	// Join is the one protocol open to non-members: it admits them with
	// an invite.
	ledgerrpc.Register(h, ledgerServer{n}, n.host.HandleOpen, limits)
}

// peerRequests is how many requests a second one peer may make of this
// node's ledger and attestation protocols (twice that at once): a member
// that floods them is answered "rate limited" instead of taking the
// node's CPU. An honest peer makes a few requests a quote (attestations,
// forwarded commands, catch-ups), and 4 nodes in one process at their
// peak quote rate (testnet BenchmarkNetworkQuoteParallel, clients=128)
// stay under the limit.
const (
	peerRequests   = 5000
	maxPeerBuckets = 4096
)

func (n *Node) unserveProtocols() {
	h := n.host.Libp2p()
	for _, p := range append([]protocol.ID{attest.Protocol, witness.Protocol}, ledgerrpc.Protocols...) {
		h.RemoveStreamHandler(p)
	}
}

// attester is this node's side of a quote's attestation (p2p/attest): it
// recomputes the price from its own replica of the price table and signs
// the quote's canonical bytes only when everything matches.
type attester struct{ n *Node }

func (a attester) Attest(_ context.Context, from peer.ID, q billing.Quote) ([]byte, error) {
	n := a.n
	s, ok := n.settings()
	if !ok {
		return nil, fmt.Errorf("%w: the ledger is not initialised here", attest.ErrNotReady)
	}
	if q.Issuer != from.String() {
		return nil, fmt.Errorf("%w: issuer %s, caller %s", attest.ErrNotIssuer, q.Issuer, from)
	}
	if q.Issuer == n.PeerID() {
		return nil, fmt.Errorf("%w: a node does not attest its own quotes", attest.ErrUnknownIssuer)
	}
	if _, registered := n.registered(q.Issuer); !registered {
		return nil, fmt.Errorf("%w: %s", attest.ErrUnknownIssuer, q.Issuer)
	}
	if err := q.Check(s); err != nil {
		return nil, fmt.Errorf("%w: %w", attest.ErrBadQuote, err)
	}
	now := n.now()
	if q.CreatedAt.After(now.Add(clockSkew)) || !now.Before(q.ExpiresAt) {
		return nil, fmt.Errorf("%w: quote time %s..%s, now %s", attest.ErrNotCurrent, q.CreatedAt, q.ExpiresAt, now)
	}
	msg := q.Canonical()
	sig, err := n.host.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	// This node's ledger need not check its own signature again.
	n.ledger.RememberSignature(n.host.PublicKey(), msg, sig)
	n.metrics.attested.Inc()
	return sig, nil
}

func (n *Node) registered(id string) (billing.Node, bool) {
	var nd billing.Node
	var ok bool
	n.ledger.Read(func(st *billing.State) { nd, ok = st.Node(id) })
	return nd, ok
}

// attest gathers the signatures a quote needs: a --dev node signs its own;
// in a network, the Threshold registered, live peers XOR-closest to the
// file's cid sign, the next ones standing in for any that fail, time out
// or are slow. The first Threshold are asked at once; one that fails is
// replaced at once by the next candidate, and while signatures are
// missing after hedgeDelay (and again each hedgeDelay) one more candidate
// is asked alongside, up to maxHedges: the first Threshold valid
// signatures make the quote and the calls still out are cancelled.
//
// Why the hedge: a quote waits for the slowest of its attesters, and on a
// loaded machine one of three is often late (its process not scheduled,
// busy applying the ledger): 32 daemons on 2 cores, attest p99 13-25 ms
// against a median of 2.
func (n *Node) attest(ctx context.Context, s billing.Settings, q billing.Quote) ([]billing.Attestation, error) {
	if s.SelfAttest {
		sig, err := n.host.Sign(q.Canonical())
		if err != nil {
			return nil, fmt.Errorf("sign quote: %w", err)
		}
		return []billing.Attestation{{Signer: n.PeerID(), Signature: sig}}, nil
	}
	candidates := n.attesters(s, q.CID)
	if len(candidates) < s.Threshold {
		return nil, fmt.Errorf("%w: %d attesting peers reachable, %d needed", ErrUnavailable, len(candidates), s.Threshold)
	}
	ctx, cancel := context.WithCancel(ctx)
	var calls sync.WaitGroup
	defer func() {
		cancel() // the calls still out when enough have signed: their streams reset
		calls.Wait()
	}()
	type answer struct {
		id  peer.ID
		sig []byte
		err error
	}
	answers := make(chan answer, len(candidates))
	msg := q.Canonical()
	next, out, hedges := 0, 0, 0
	ask := func() {
		id := candidates[next]
		next++
		out++
		calls.Go(func() {
			start := time.Now()
			sig, err := attest.Ask(ctx, n.rpc, id, q)
			if err == nil {
				n.attestRTT.observe(time.Since(start))
				// Checked here, in parallel and off the ledger's one
				// apply at a time (which then finds it checked); a bad
				// one is refused like a failed call, and the next
				// candidate stands in.
				nd, ok := n.registered(id.String())
				if !ok || !n.ledger.VerifySignature(nd.PublicKey, msg, sig) {
					err = errors.New("attestation signature does not verify with its registered key")
				}
			}
			answers <- answer{id: id, sig: sig, err: err}
		})
	}
	for range s.Threshold {
		ask()
	}
	delay := n.attestRTT.hedgeDelay()
	hedge := time.NewTimer(delay)
	defer hedge.Stop()
	var (
		atts []billing.Attestation
		errs []error
	)
	for len(atts) < s.Threshold && out > 0 {
		select {
		case a := <-answers:
			out--
			if a.err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", a.id, a.err))
				if next < len(candidates) && len(atts)+out < s.Threshold {
					ask()
				}
				continue
			}
			atts = append(atts, billing.Attestation{Signer: a.id.String(), Signature: a.sig})
		case <-hedge.C:
			if next < len(candidates) && hedges < maxHedges {
				hedges++
				n.metrics.attestHedges.Inc()
				ask()
			}
			hedge.Reset(delay)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if len(atts) < s.Threshold {
		return nil, fmt.Errorf("%w: %d of %d attestations (%v)", ErrUnavailable, len(atts), s.Threshold, errors.Join(errs...))
	}
	slices.SortFunc(atts, func(a, b billing.Attestation) int { return strings.Compare(a.Signer, b.Signer) })
	return atts, nil
}

// maxHedges is how many candidates a quote may ask beyond Threshold for
// being slow (those that fail are replaced regardless).
const maxHedges = 2

// rtt is a moving average of a call's round trip (an EWMA, 1/8 per
// sample), safe for concurrent use.
type rtt struct{ ns atomic.Int64 }

func (r *rtt) observe(d time.Duration) {
	for {
		old := r.ns.Load()
		v := int64(d)
		if old != 0 {
			v = old + (int64(d)-old)/8
		}
		if r.ns.CompareAndSwap(old, v) {
			return
		}
	}
}

// hedgeDelay is how long a call may take before a stand-in is asked too:
// four times the average round trip, within [5 ms, 250 ms]: a hedge is
// for the call that is late by far, each costs the network an attest.
func (r *rtt) hedgeDelay() time.Duration {
	return min(max(4*time.Duration(r.ns.Load()), 5*time.Millisecond), 250*time.Millisecond)
}

// attesters are the registered peers other than this node, ordered by the
// XOR distance of their id's hash to the cid's hash (deterministic for a
// given cid), the first billing.AttestWindow of them (the ledger takes no
// other), but for those known to be gone.
func (n *Node) attesters(s billing.Settings, cid string) []peer.ID {
	self := n.PeerID()
	var nodes []billing.Node
	n.ledger.Read(func(st *billing.State) { nodes = st.Nodes() })
	// Skip the peers the feed knows to be gone (heard from once, silent
	// since); one not heard from yet is tried, and skipped if it fails.
	gone := map[string]bool{}
	if n.feed != nil {
		for _, p := range n.feed.Peers() {
			gone[p.Status.PeerID] = true
		}
		for _, p := range n.feed.Live(n.cfg.PeerTimeout) {
			delete(gone, p.Status.PeerID)
		}
	}
	var ids []string
	for _, nd := range nodes {
		if nd.PeerID != self {
			ids = append(ids, nd.PeerID)
		}
	}
	ids = byDistance(cid, ids)
	ids = ids[:min(len(ids), billing.AttestWindow(s))]
	var out []peer.ID
	for _, id := range ids {
		if k, ok := peerKeyOf(id); ok && !gone[id] {
			out = append(out, k.id)
		}
	}
	return out
}

// byDistance orders peer ids by the XOR distance of their hash to the
// cid's hash (as kad-dht measures closeness): the same order on every node.
func byDistance(cid string, ids []string) []string {
	target := billing.CIDHash(cid) // the ledger's measure (billing.AttestWindow)
	type cand struct {
		id   string
		dist [32]byte
	}
	cs := make([]cand, 0, len(ids))
	for _, id := range ids {
		k, ok := peerKeyOf(id)
		if !ok {
			continue
		}
		c := cand{id: id}
		for i := range c.dist {
			c.dist[i] = k.hash[i] ^ target[i]
		}
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b cand) int { return bytes.Compare(a.dist[:], b.dist[:]) })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.id
	}
	return out
}

// peerKey is a peer id decoded, and the hash byDistance measures from.
type peerKey struct {
	id   peer.ID
	hash [32]byte
}

// peerKeys caches peerKeyOf for up to maxPeerKeys ids (the registered
// nodes): every quote orders all of them, and decoding each id (base58)
// and hashing it anew cost the issuing node ~0.15 ms a quote in a
// 32-node network.
var (
	peerKeysMu sync.Mutex
	peerKeys   = map[string]peerKey{}
)

const maxPeerKeys = 4096

// peerKeyOf decodes id; false if it is not a peer id.
func peerKeyOf(id string) (peerKey, bool) {
	peerKeysMu.Lock()
	k, ok := peerKeys[id]
	peerKeysMu.Unlock()
	if ok {
		return k, true
	}
	pid, err := peer.Decode(id)
	if err != nil {
		return peerKey{}, false
	}
	h, _ := billing.PeerHash(id)
	k = peerKey{id: pid, hash: h}
	peerKeysMu.Lock()
	if len(peerKeys) < maxPeerKeys {
		peerKeys[id] = k
	}
	peerKeysMu.Unlock()
	return k, true
}

// ledgerServer answers the ledger's protocols for this node (p2p/ledgerrpc).
type ledgerServer struct{ n *Node }

// Join admits a node to the network and adds it to the ledger's Raft
// group. The caller is the node itself, a member or not: one that is not
// must bring an invite for its own peer id, which this node checks and the
// ledger checks again on every replica (Admit). Then the leader adds it to
// the group: here when this node leads, else through the leader, where the
// caller is this node (a member) and the joiner is a member by then.
func (s ledgerServer) Join(ctx context.Context, from peer.ID, req ledgerrpc.JoinRequest) (ledgerrpc.JoinResponse, error) {
	n := s.n
	id, err := peer.Decode(req.PeerID)
	if err != nil {
		return ledgerrpc.JoinResponse{}, fmt.Errorf("%w: peer id %q: %w", ErrInvalid, req.PeerID, err)
	}
	if id != from {
		// Passed on by a member: the joiner must be one already.
		if !n.members.IsMember(from) {
			return ledgerrpc.JoinResponse{}, fmt.Errorf("%w: a node joins for itself only (%s asked for %s)", ledgerrpc.ErrForbidden, from, id)
		}
		if !n.joinable(id) {
			return ledgerrpc.JoinResponse{}, fmt.Errorf("%w: %s is not a member", ledgerrpc.ErrForbidden, id)
		}
	} else if err := n.admit(ctx, id, req.Invite); err != nil {
		if errors.Is(err, ErrForbidden) {
			err = wire.WithCode(ledgerrpc.ErrForbidden, err)
		}
		return ledgerrpc.JoinResponse{}, err
	}
	if !n.raft.IsLeader() {
		leader, err := n.leaderID(ctx)
		if err != nil {
			return ledgerrpc.JoinResponse{}, wire.WithCode(ledgerrpc.ErrNoLeader, err)
		}
		resp, err := ledgerrpc.Join(ctx, n.host.Libp2p(), leader, ledgerrpc.JoinRequest{PeerID: req.PeerID})
		if err != nil {
			return ledgerrpc.JoinResponse{}, fmt.Errorf("pass the join on to the leader: %w", err)
		}
		return resp, nil
	}
	if !n.joinable(id) {
		// The Admit applied through this leader a moment ago; a replica
		// that lost the lead since would say so here.
		return ledgerrpc.JoinResponse{}, fmt.Errorf("%w: %s is not a member", ErrUnavailable, id)
	}
	role, err := n.raft.Join(ctx, req.PeerID)
	if err != nil {
		return ledgerrpc.JoinResponse{}, err
	}
	ms, err := n.raft.Members()
	if err != nil {
		return ledgerrpc.JoinResponse{}, err
	}
	resp := ledgerrpc.JoinResponse{Role: string(role)}
	for _, m := range ms {
		resp.Servers = append(resp.Servers, m.ID)
	}
	n.event(slog.LevelInfo, Event{Kind: EventMemberJoined, Message: "node joined the ledger", Peer: req.PeerID}, "role", role)
	return resp, nil
}

// joinable reports whether id may be in the ledger's group: this replica
// has it as a member, or, when it has not replayed its admission yet (a
// whole network starting again), the configuration in this node's log
// has it and the ledger did not remove it.
func (n *Node) joinable(id peer.ID) bool {
	var ok bool
	n.ledger.Read(func(st *billing.State) { ok = st.IsMember(id.String()) })
	return ok || n.members.inConfig(id)
}

// leaderID is the current leader's peer id, waiting a little for one.
func (n *Node) leaderID(ctx context.Context) (peer.ID, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		if l := n.raft.Leader(); l != "" {
			return peer.Decode(l)
		}
		if time.Now().After(deadline) {
			return "", consensus.ErrNoLeader
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Forward applies a command forwarded by a follower; only the leader
// does (ApplyLocal refuses elsewhere), so a command never bounces.
func (s ledgerServer) Forward(ctx context.Context, from peer.ID, cmd []byte) ([]byte, error) {
	n := s.n
	if err := checkForwarded(from, cmd, n.now()); err != nil {
		return nil, err
	}
	res, err := n.raft.ApplyLocal(ctx, cmd)
	if err != nil {
		// The refusals the forwarding node acts on travel by code.
		for _, c := range forwardCodes {
			if errors.Is(err, c.err) {
				return nil, wire.WithCode(c.code, err)
			}
		}
		return nil, err
	}
	return res, nil
}

// forwardCodes pair the leader's refusals that a forwarding node hands
// back to consensus with their codes: a node that no longer leads (look
// for the leader again), a leader too busy to take the command in time.
var forwardCodes = []struct {
	err  error
	code wire.Code
}{
	{consensus.ErrNotLeader, ledgerrpc.ErrNotLeader},
	{consensus.ErrTimeout, ledgerrpc.ErrBusy},
}

// Prepare makes this node's log durable before the leader promotes it to
// a voter (consensus.VoterPreparer). Any member may ask: it costs only
// this node's fsyncs.
func (s ledgerServer) Prepare(context.Context, peer.ID) error {
	return s.n.raft.PrepareVoter()
}

// PrepareVoter asks the non-voter id to make its log durable
// (consensus.VoterPreparer), before the leader promotes it.
func (f forwarder) PrepareVoter(ctx context.Context, id string) error {
	p, err := peer.Decode(id)
	if err != nil {
		return fmt.Errorf("member id %q: %w", id, err)
	}
	return ledgerrpc.Prepare(ctx, f.n.rpc, p)
}

// Index tells a follower the index of the last entry the leader's
// replica has applied: the point the follower's must reach to reflect
// every write acknowledged so far. The appends held back for the follower
// (a non-voter's batches) go at once, so that it gets there quickly.
func (s ledgerServer) Index(ctx context.Context, from peer.ID) (uint64, error) {
	n := s.n
	if !n.raft.IsLeader() {
		return 0, ledgerrpc.ErrNotLeader
	}
	// A leader that has just run again after a pause may not lead any
	// more: it answers only once a quorum confirmed it does.
	if err := n.raft.VerifyLeader(ctx); err != nil {
		return 0, fmt.Errorf("%w: %v", ledgerrpc.ErrNotLeader, err)
	}
	idx := n.raft.StateIndex()
	n.raft.FlushTo(from.String())
	return idx, nil
}

// catchUp waits, for at most catchUpTimeout, until this replica of the
// ledger has applied everything the leader's had when it was called (the
// leader confirms it still leads first: see consensus VerifyLeader). A
// read that found nothing, or a state that may have moved on since (a
// file uploaded, paid or stored through another node a moment ago), calls
// it before it answers 404 or 402 or reads the slow way; a file resource
// is read only after it. It reports whether the replica did catch up (a
// leader's does once it confirmed it leads): what would answer from the
// replica, or delete data on its word, asks that first. On a failure (no
// leader known, a partition) the local view is what there is.
func (n *Node) catchUp(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	if n.raft.IsLeader() && n.raft.VerifyLeader(ctx) == nil {
		return true // it leads, and its replica has applied every write acknowledged
	}
	leader := n.raft.Leader()
	if leader == n.PeerID() {
		return false // it believes it leads, and could not confirm it
	}
	if leader == "" {
		return false
	}
	id, err := peer.Decode(leader)
	if err != nil {
		return false
	}
	target, err := ledgerrpc.Index(ctx, n.rpc, id)
	if err != nil {
		n.log.Debug("ask the leader how far its ledger is", "leader", leader, "err", err)
		return false
	}
	if err := n.raft.WaitApplied(ctx, target); err != nil {
		n.log.Debug("catch up with the ledger", "index", target, "err", err)
		return false
	}
	return true
}

// checkForwarded refuses what a peer may not ask of the ledger for
// another: a forwarded command must be proposed (and signed: the state
// machine checks that on every replica) by the member that forwards it,
// and a command's time is the leader's time (now), up to clockSkew ahead
// and twice that behind (a command may wait for a leader up to
// consensus's ApplyTimeout, 3 s, before it is forwarded): the state
// machine goes by the times commands carry, so a member that stamped an
// Expire a century ahead would end every lease, and one that stamped a
// payment in the past would pay a quote that expired.
func checkForwarded(from peer.ID, b []byte, now time.Time) error {
	cmd, err := billing.DecodeCommand(b)
	if err != nil {
		return fmt.Errorf("forwarded command: %w", err)
	}
	if cmd.By != from.String() {
		return fmt.Errorf("%w: %s forwarded a %s command proposed by %q: a member forwards its own commands", ledgerrpc.ErrForbidden, from, cmd.Kind(), cmd.By)
	}
	if d := cmd.Time.Sub(now); d > clockSkew || d < -2*clockSkew {
		return fmt.Errorf("%w: %s command stamped %s, %v from the leader's clock (at most %v ahead, %v behind)",
			ledgerrpc.ErrForbidden, cmd.Kind(), cmd.Time.UTC().Format(time.RFC3339Nano), d.Round(time.Millisecond), clockSkew, 2*clockSkew)
	}
	return nil
}

// forwarder sends ledger commands to the leader (p2p/ledgerrpc's forward).
type forwarder struct{ n *Node }

func (f forwarder) Forward(ctx context.Context, leader string, cmd []byte) ([]byte, error) {
	id, err := peer.Decode(leader)
	if err != nil {
		return nil, fmt.Errorf("leader id %q: %w", leader, err)
	}
	res, err := ledgerrpc.Forward(ctx, f.n.rpc, id, cmd)
	if err != nil {
		// Give consensus back the leader's refusals it acts on (a node
		// that no longer leads: look again).
		for _, c := range forwardCodes {
			if errors.Is(err, c.code) {
				return nil, fmt.Errorf("%w: %w", c.err, err)
			}
		}
		return nil, err
	}
	return res, nil
}

// member reports whether this node is in the ledger's latest
// configuration, as its own log has it.
func (n *Node) member() bool {
	members, err := n.raft.Members()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(members, func(m consensus.Member) bool { return m.ID == n.PeerID() })
}

// join asks the network, through the bootstrap peers, to add this node to
// the ledger's Raft group.
func (n *Node) join(ctx context.Context) error {
	var errs []error
	for _, p := range n.host.Peers() {
		resp, err := ledgerrpc.Join(ctx, n.host.Libp2p(), p, ledgerrpc.JoinRequest{PeerID: n.PeerID(), Invite: n.cfg.Invite})
		if err == nil {
			// The servers of the group are who this node hears the
			// ledger from, before it holds the ledger itself.
			var servers []peer.ID
			for _, s := range resp.Servers {
				if id, err := peer.Decode(s); err == nil {
					servers = append(servers, id)
				}
			}
			n.members.trust(servers...)
			n.log.Info("joined the ledger", "via", p, "role", resp.Role)
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
	}
	if len(errs) == 0 {
		return errors.New("join the ledger: no connected peer to ask")
	}
	return fmt.Errorf("join the ledger: %w", errors.Join(errs...))
}

// startFeed publishes this node's status and keeps the view of its peers.
func (n *Node) startFeed(ctx context.Context) error {
	started := n.now()
	f, err := feed.New(ctx, n.host.Libp2p(), feed.Config{
		Interval: n.cfg.StatusInterval,
		// A peer silent for PeerTimeout is gone, so a node may stretch its
		// interval in a large network only as far as leaves three statuses
		// per timeout.
		MaxInterval: n.cfg.PeerTimeout / 3,
		Logger:      n.cfg.Logger.With("sys", "feed"),
		Member:      n.members.IsMember,
		Source: func() feed.Status {
			return feed.Status{
				HTTP:        n.cfg.HTTPAddr,
				Capacity:    n.cfg.Capacity,
				Free:        n.free(),
				Stored:      n.store.Usage().Bytes,
				Version:     Version,
				Uptime:      int64(n.now().Sub(started).Seconds()),
				LedgerIndex: n.ledger.Index(),
			}
		},
	})
	if err != nil {
		return fmt.Errorf("start status feed: %w", err)
	}
	n.feed = f
	n.feedStarted = time.Now()
	return nil
}

// maintain keeps the ledger's voters at five live nodes when it can: the
// leader promotes a live non-voter in place of a voter silent on the feed
// for twice the peer timeout.
func (n *Node) maintain(ctx context.Context) {
	if !n.raft.IsLeader() || n.feed == nil {
		return
	}
	n.pruneRemoved(ctx)
	live := map[string]bool{n.PeerID(): true}
	for _, p := range n.feed.Live(n.cfg.PeerTimeout) {
		live[p.Status.PeerID] = true
	}
	if err := n.raft.Maintain(ctx, func(id string) bool { return live[id] }, 2*n.cfg.PeerTimeout); err != nil && ctx.Err() == nil {
		n.log.Warn("maintain the ledger's voters", "err", err)
	}
}
