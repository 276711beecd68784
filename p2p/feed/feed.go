package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Topic is the gossipsub topic of the status feed.
const Topic = "/dds/status/1.0.0"

// Defaults of [Config].
const (
	DefaultInterval = 2 * time.Second
	// PeersPerInterval is how many publishers the network may have before
	// the feed stretches each node's interval (see Config.MaxInterval).
	PeersPerInterval  = 16
	DefaultStaleAfter = 30 * time.Second
	DefaultMaxSize    = 4 << 10
	// MaxFuture is how far ahead of the receiver's clock a status may be
	// stamped (clock skew) before it is dropped.
	MaxFuture = 5 * time.Second
)

var (
	// ErrNoSource reports a [Config] without a Source.
	ErrNoSource = errors.New("no status source")
	// ErrTooLarge reports a status whose encoding is over Config.MaxSize.
	ErrTooLarge = errors.New("status too large")
	// ErrClosed reports a call on a closed feed.
	ErrClosed = errors.New("feed closed")
)

// Status is what a node tells the network about itself on the feed.
type Status struct {
	// PeerID is the publisher's peer id; it must be the message's signer.
	PeerID string `json:"peer_id"`
	// HTTP is the base URL of the node's HTTP API.
	HTTP string `json:"http"`
	// Capacity, Free and Stored are byte counts of the node's store.
	Capacity int64 `json:"capacity"`
	Free     int64 `json:"free"`
	Stored   int64 `json:"stored"`
	// Version is the node's software version.
	Version string `json:"version"`
	// Uptime is how long the node has been running, in seconds.
	Uptime int64 `json:"uptime"`
	// LedgerIndex is the last ledger index the node applied.
	LedgerIndex uint64 `json:"ledger_index"`
	// Time is when the status was published, by the publisher's clock.
	Time time.Time `json:"time"`
	// Seq grows with every status of a publisher, across restarts.
	Seq uint64 `json:"seq"`
}

// Peer is the feed's view of one peer.
type Peer struct {
	// Status is the peer's latest status.
	Status Status
	// LastSeen is when that status arrived, by the local clock.
	LastSeen time.Time
	// Latency is the peerstore's moving average of the round-trip time to
	// the peer (from libp2p's ping and identify), 0 if unknown.
	Latency time.Duration
}

// Config configures a [Feed]. Zero fields take the defaults.
type Config struct {
	// Interval is the time between two statuses of this node (default 2 s)
	// while the network has at most [PeersPerInterval] nodes.
	Interval time.Duration
	// MaxInterval lets the interval grow with the network: with n nodes
	// heard from within StaleAfter (this one included) it is Interval ×
	// n / PeersPerInterval, at least Interval and at most MaxInterval, so
	// that the statuses a node handles per second stay about the same as
	// the network grows (Serf stretches its push/pull interval alike).
	// Zero or less than Interval: the interval stays Interval.
	MaxInterval time.Duration
	// StaleAfter drops statuses stamped longer ago than this (default 30 s).
	StaleAfter time.Duration
	// MaxSize drops messages larger than this many bytes (default 4 KiB).
	MaxSize int
	// Clock gives the time (default time.Now).
	Clock func() time.Time
	// Logger receives the feed's log lines; nil discards them.
	Logger *slog.Logger
	// Source gives the status to publish; the feed fills in PeerID, Time
	// and Seq. Required.
	Source func() Status
	// Member, when set, limits the feed to the network's members: statuses
	// go to and come from members only, and a status whose author is not
	// one is rejected wherever it came from.
	Member func(peer.ID) bool
}

// Feed publishes this node's status on [Topic] and keeps the view of the
// other peers' statuses. Create it with [New], stop it with [Feed.Close].
type Feed struct {
	h     host.Host
	cfg   Config
	log   *slog.Logger
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	evts  *pubsub.TopicEventHandler

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	pubMu sync.Mutex
	seq   uint64 // last published; starts at the start time in ns

	mu    sync.Mutex
	peers map[peer.ID]Peer
	last  map[peer.ID]uint64 // highest Seq accepted per publisher

	closeOnce sync.Once
}

// New starts the feed on h: its own gossipsub router (strict signing: every
// message is signed by its author and checked), a validator on [Topic], a
// subscription that fills the view, and a publisher that sends this node's
// status every [Feed.Interval] and right after a peer joins the topic. ctx bounds
// the start-up only; the feed runs until [Feed.Close].
func New(ctx context.Context, h host.Host, cfg Config) (*Feed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Source == nil {
		return nil, fmt.Errorf("new feed: %w", ErrNoSource)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxInterval < cfg.Interval {
		cfg.MaxInterval = cfg.Interval
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &Feed{
		h:      h,
		cfg:    cfg,
		log:    logger,
		ctx:    fctx,
		cancel: cancel,
		seq:    uint64(cfg.Clock().UnixNano()),
		peers:  make(map[peer.ID]Peer),
		last:   make(map[peer.ID]uint64),
	}
	if err := f.start(); err != nil {
		f.stop()
		return nil, fmt.Errorf("new feed: %w", err)
	}
	f.wg.Go(f.receive)
	f.wg.Go(f.publishLoop)
	f.wg.Go(f.watchJoins)
	return f, nil
}

// meshParams are the router's gossipsub parameters: a mesh of 2 (1 to 4)
// instead of 6 (4 to 12), gossip to 2 peers a heartbeat, and (with
// WithFloodPublish(false) in start) a node's own status goes to its mesh
// only. Every node hands each status it accepts on to its mesh peers, so a
// status costs the network about N × D sends, verifies and duplicates, all
// in the same few milliseconds; on a 32-node network on 2 cores those
// bursts were what pushed a quote's p99 over 20 ms (31-38 ms at D 6, 19-25
// ms at D 3). At D 3 with flood publishing and gossip to a quarter of the
// other peers (GossipFactor's default, 7 of 31), the feed still made ~1000
// RPCs a second for ~250 deliveries (8 statuses of 31 receivers): 400-650
// duplicates and ~215 IHAVEs. With these, 356 (34 duplicates, 66 IHAVEs),
// and an idle 32-node network's CPU went 0.41-0.44 -> 0.31 cores (two
// networks run side by side for the same 40 s, both ways round; D 2 with
// flood publishing 0.34, D 3 without gossip factor or flood 0.36).
// Statuses are small and come again within seconds, and what the thin mesh
// misses the IHAVE/IWANT gossip of every heartbeat repairs, so the feed
// still reaches every node (all 31 receivers got every status in those
// runs). Dout must stay below D/2 and Dscore at most D.
func meshParams() pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	p.D, p.Dlo, p.Dhi = 2, 1, 4
	p.Dlazy = 2
	p.GossipFactor = 0
	p.Dout = 0
	p.Dscore = min(p.Dscore, p.D)
	return p
}

func (f *Feed) start() error {
	var err error
	f.ps, err = pubsub.NewGossipSub(f.ctx, f.h,
		pubsub.WithMessageSigning(true),
		pubsub.WithStrictSignatureVerification(true),
		pubsub.WithGossipSubParams(meshParams()),
		pubsub.WithFloodPublish(false),
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return f.member(p) }),
		pubsub.WithLogger(f.log.With("sys", "pubsub")),
	)
	if err != nil {
		return fmt.Errorf("gossipsub: %w", err)
	}
	if err := f.ps.RegisterTopicValidator(Topic, f.validate, pubsub.WithValidatorInline(true)); err != nil {
		return fmt.Errorf("register validator: %w", err)
	}
	if f.topic, err = f.ps.Join(Topic); err != nil {
		return fmt.Errorf("join %s: %w", Topic, err)
	}
	if f.evts, err = f.topic.EventHandler(); err != nil {
		return fmt.Errorf("topic events: %w", err)
	}
	if f.sub, err = f.topic.Subscribe(); err != nil {
		return fmt.Errorf("subscribe %s: %w", Topic, err)
	}
	return nil
}

// validate is the topic validator. It drops (Reject: the sender misbehaves)
// oversized, undecodable, unsigned and forged messages, and ignores (the
// sender may only relay them late) stale, future and replayed ones.
// member reports whether p takes part in the feed.
func (f *Feed) member(p peer.ID) bool { return f.cfg.Member == nil || f.cfg.Member(p) }

func (f *Feed) validate(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if len(msg.GetData()) > f.cfg.MaxSize {
		return pubsub.ValidationReject
	}
	if len(msg.GetSignature()) == 0 {
		return pubsub.ValidationReject
	}
	author := msg.GetFrom()
	if author == "" || !f.member(author) {
		return pubsub.ValidationReject
	}
	var st Status
	if err := json.Unmarshal(msg.GetData(), &st); err != nil {
		return pubsub.ValidationReject
	}
	if st.PeerID != author.String() {
		return pubsub.ValidationReject
	}
	now := f.cfg.Clock()
	if st.Time.Before(now.Add(-f.cfg.StaleAfter)) || st.Time.After(now.Add(MaxFuture)) {
		return pubsub.ValidationIgnore
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if st.Seq <= f.last[author] {
		return pubsub.ValidationIgnore
	}
	f.last[author] = st.Seq
	msg.ValidatorData = st // receive need not decode it again
	return pubsub.ValidationAccept
}

// receive fills the view from the subscription until Close.
func (f *Feed) receive() {
	for {
		msg, err := f.sub.Next(f.ctx)
		if err != nil {
			return
		}
		from := msg.GetFrom()
		if from == f.h.ID() {
			continue
		}
		st, ok := msg.ValidatorData.(Status)
		if !ok {
			continue // the validator sets it on every message it accepts
		}
		f.mu.Lock()
		if p, ok := f.peers[from]; !ok || st.Seq > p.Status.Seq {
			f.peers[from] = Peer{Status: st, LastSeen: f.cfg.Clock()}
		}
		f.mu.Unlock()
	}
}

// publishLoop publishes at once, then every [Feed.Interval], until Close. A
// publish before any peer joined reaches nobody; watchJoins makes up for it.
func (f *Feed) publishLoop() {
	t := time.NewTimer(f.Interval())
	defer t.Stop()
	for {
		if err := f.PublishNow(f.ctx); err != nil && f.ctx.Err() == nil {
			f.log.Warn("publish status", "err", err)
		}
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
			t.Reset(f.Interval())
		}
	}
}

// Interval is the time until this node's next status: Config.Interval
// stretched by the number of nodes heard from (see Config.MaxInterval).
func (f *Feed) Interval() time.Duration {
	since := f.cfg.Clock().Add(-f.cfg.StaleAfter)
	n := 1
	f.mu.Lock()
	for _, p := range f.peers {
		if !p.LastSeen.Before(since) {
			n++
		}
	}
	f.mu.Unlock()
	return stretch(f.cfg.Interval, f.cfg.MaxInterval, n)
}

// stretch is base × n / PeersPerInterval within [base, limit].
func stretch(base, limit time.Duration, n int) time.Duration {
	if n <= PeersPerInterval {
		return base
	}
	d := time.Duration(float64(base) * float64(n) / PeersPerInterval)
	return min(max(d, base), limit)
}

// watchJoins publishes right after a peer joins the topic, so that it hears
// from this node without waiting for the next tick.
func (f *Feed) watchJoins() {
	for {
		ev, err := f.evts.NextPeerEvent(f.ctx)
		if err != nil {
			return
		}
		if ev.Type != pubsub.PeerJoin {
			continue
		}
		f.log.Debug("peer joined the feed", "peer", ev.Peer.String())
		if err := f.PublishNow(f.ctx); err != nil && f.ctx.Err() == nil {
			f.log.Warn("publish status", "err", err)
		}
	}
}

// PublishNow publishes this node's status at once (on a status change, or in
// tests). The status comes from Config.Source with PeerID, Time and Seq
// filled in; one whose encoding is over MaxSize fails with [ErrTooLarge].
func (f *Feed) PublishNow(ctx context.Context) error {
	if f.ctx.Err() != nil {
		return ErrClosed
	}
	f.pubMu.Lock()
	defer f.pubMu.Unlock()
	st := f.cfg.Source()
	st.PeerID = f.h.ID().String()
	st.Time = f.cfg.Clock()
	f.seq++
	st.Seq = f.seq
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	if len(data) > f.cfg.MaxSize {
		return fmt.Errorf("publish status: %w: %d bytes, limit %d", ErrTooLarge, len(data), f.cfg.MaxSize)
	}
	if err := f.topic.Publish(ctx, data); err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	return nil
}

// Peers returns every peer heard from (not this node), sorted by peer id.
func (f *Feed) Peers() []Peer {
	return f.view(func(Peer) bool { return true })
}

// Live returns the peers heard from within the last window, sorted by peer
// id.
func (f *Feed) Live(within time.Duration) []Peer {
	since := f.cfg.Clock().Add(-within)
	return f.view(func(p Peer) bool { return !p.LastSeen.Before(since) })
}

// Peer returns the view of one peer, and whether it was ever heard from.
func (f *Feed) Peer(id peer.ID) (Peer, bool) {
	f.mu.Lock()
	p, ok := f.peers[id]
	f.mu.Unlock()
	if ok {
		p.Latency = f.h.Peerstore().LatencyEWMA(id)
	}
	return p, ok
}

func (f *Feed) view(keep func(Peer) bool) []Peer {
	f.mu.Lock()
	out := make([]Peer, 0, len(f.peers))
	ids := make([]peer.ID, 0, len(f.peers))
	for id, p := range f.peers {
		if keep(p) {
			out = append(out, p)
			ids = append(ids, id)
		}
	}
	f.mu.Unlock()
	for i := range out {
		out[i].Latency = f.h.Peerstore().LatencyEWMA(ids[i])
	}
	slices.SortFunc(out, func(a, b Peer) int {
		switch {
		case a.Status.PeerID < b.Status.PeerID:
			return -1
		case a.Status.PeerID > b.Status.PeerID:
			return 1
		}
		return 0
	})
	return out
}

// Close stops publishing, cancels the subscription, the topic's event
// handler and the gossipsub router, removes the router's stream handlers and
// waits for the feed's goroutines. It is idempotent.
func (f *Feed) Close() error {
	f.closeOnce.Do(func() {
		f.stop()
		f.wg.Wait()
	})
	return nil
}

func (f *Feed) stop() {
	if f.sub != nil {
		f.sub.Cancel()
	}
	if f.evts != nil {
		f.evts.Cancel()
	}
	f.cancel()
	if f.ps != nil {
		for _, id := range pubsub.GossipSubDefaultProtocols {
			f.h.RemoveStreamHandler(id)
		}
	}
}
