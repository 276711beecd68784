package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/consensus"
	"github.com/ddsnet/dds/p2p"
	"github.com/ddsnet/dds/p2p/audit"
	"github.com/ddsnet/dds/p2p/feed"
	"github.com/ddsnet/dds/p2p/fetch"
	"github.com/ddsnet/dds/p2p/push"
	"github.com/ddsnet/dds/p2p/wire"
	"github.com/ddsnet/dds/p2p/witness"
)

// Version is the node software's version, shown in /info.
var Version = "0.1.0-dev"

// Pin owners in the chunk store: a staged upload waiting for payment, and a
// paid lease this node holds.
const (
	stagePrefix = "stage/"
	leasePrefix = "lease/"
	recordsKey  = "idem/"
)

// Node is one dds node: chunk store, ledger replica, p2p host, pipelines.
// Build it with [New], then [Node.Start]; [Node.Close] stops it.
type Node struct {
	cfg   Config
	log   *slog.Logger
	clock Clock

	store  *chunk.Store
	host   *p2p.Host
	ledger *billing.Ledger
	raft   *consensus.Ledger
	feed   *feed.Feed // nil in --dev
	// feedStarted is when the feed started: a registered node not heard
	// from long after it is gone.
	feedStarted time.Time
	rpc         *wire.Client // attestations and forwarded commands, on kept streams
	push        *push.Service
	fetch       *fetch.Service
	audit       *audit.Service
	witness     *witness.Service
	unreachable unreachables       // holders found not answering, for their other files
	peerWatch   peerWatch          // members' reachability and removals, as last reported
	peerLimits  wire.HandlerOption // each peer's request budget, shared by the request protocols
	qos         *qos
	members     *members
	unpaid      *unpaid  // staged uploads not paid yet: their chunks are not served to peers
	earlyEnds   sync.Map // file id -> true: leases the ledger ended early, said once
	knownPeersState
	kick   chan struct{} // wakes the placement loop
	gcKick chan struct{} // wakes the GC loop: a write found the disk full, or a lease was let go
	// expireKick wakes the expiry loop (sweep and reconcile): a file was
	// deleted here.
	expireKick chan struct{}
	events     events      // recent events, for GET /network
	quoteRate  rateSampler // quotes per second, for GET /network

	s3Once sync.Once // makes s3 (S3)
	s3     *S3Store
	s3Err  error
	token  string

	metrics   *metrics
	attestRTT rtt // the attest calls' round trips (the hedge delay)

	// placing serialises the placement of a file (pin for its lease, record
	// the holder) so the payment path and the reconcile loop never race.
	placing sync.Mutex
	// copies is what this node reported of paid files without a copy on
	// a live node (checkCopies).
	copies copyWatch

	// staging holds the uploads in flight (file id -> start): their staged
	// pins have no file in the ledger yet, and reconcile leaves them be.
	staging sync.Map

	// Corrupt chunks of this store waiting for a good copy (repairLoop).
	repairs   chan cid.Cid
	repairMu  sync.Mutex
	repairing map[cid.Cid]bool
	// unrepaired are the chunks no other holder had a good copy of yet,
	// since the first try (tried again, and given up after RepairGiveUp).
	unrepaired map[cid.Cid]time.Time

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	started   bool
}

// New checks cfg and prepares a node; [Node.Start] opens its parts.
func New(cfg Config) (*Node, error) {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dir, err := expandHome(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = dir
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("sys", "node"), clock: cfg.Clock, kick: make(chan struct{}, 1), gcKick: make(chan struct{}, 1), expireKick: make(chan struct{}, 1),
		qos: newQoS(), unpaid: newUnpaid(), repairs: make(chan cid.Cid, chunkRepairs), repairing: map[cid.Cid]bool{},
		unrepaired: map[cid.Cid]time.Time{}}
	n.metrics = newMetrics(n)
	return n, nil
}

func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("data-dir: %w", err)
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
	}
	return p, nil
}

// Start opens the store, the host and the ledger, initialises a new network
// (or recovers the node's state), and starts the node's loops. It returns
// once the node serves: the ledger has a leader and has applied its log.
func (n *Node) Start(ctx context.Context) (err error) {
	if n.started {
		return errors.New("node already started")
	}
	n.started = true
	defer func() {
		if err != nil {
			n.closeParts()
		}
	}()
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Spooled request bodies of a previous run are garbage now.
	if err := os.RemoveAll(n.SpoolDir()); err != nil {
		return fmt.Errorf("clear spool: %w", err)
	}
	if err := os.MkdirAll(n.SpoolDir(), 0o700); err != nil {
		return fmt.Errorf("create spool dir: %w", err)
	}
	if err := checkIdentity(n.cfg.DataDir, n.cfg.BillingToken); err != nil {
		return err
	}
	key, err := p2p.LoadOrCreateKey(n.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if n.token, err = loadOrCreateToken(n.cfg.DataDir, n.cfg.BillingToken); err != nil {
		return err
	}

	sopts := chunk.DefaultOptions(filepath.Join(n.cfg.DataDir, "chunks"))
	sopts.Logger = n.cfg.Logger.With("sys", "chunk")
	sopts.Reserve = ledgerHeadroom(n.cfg.DataDir)
	sopts.NoBallast = n.cfg.NoBallast
	if n.store, err = chunk.Open(sopts); err != nil {
		if errors.Is(err, chunk.ErrIndexLost) {
			return fmt.Errorf("%w: %w", ErrStateLost, err)
		}
		return fmt.Errorf("open chunk store: %w", err)
	}
	if err := checkLedger(ctx, n.cfg.DataDir, n.store); err != nil {
		return err
	}

	addrs, err := p2p.ListenAddrsFor(n.cfg.P2PAddrs)
	if err != nil {
		return fmt.Errorf("p2p-addr: %w", err)
	}
	if n.host, err = p2p.New(ctx, p2p.Config{Key: key, ListenAddrs: addrs, Bootstrap: n.cfg.Bootstrap, Logger: n.cfg.Logger.With("sys", "p2p")}); err != nil {
		return fmt.Errorf("start p2p host: %w", err)
	}
	n.ledger = billing.NewLedger()
	// The host serves members only from the start: the Raft transport
	// accepts as soon as the ledger opens.
	n.members = &members{n: n}
	for _, a := range n.cfg.Bootstrap {
		if ai, err := peer.AddrInfoFromString(a); err == nil {
			n.members.trust(ai.ID)
		}
	}
	n.host.SetMembership(n.members)
	if err := n.connectPeers(ctx); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	n.rpc = wire.NewClient(n.host.Libp2p())

	rc := consensus.DefaultConfig()
	rc.Dir = raftDir(n.cfg.DataDir)
	rc.ID = n.host.ID().String()
	rc.Layer = n.host.RaftLayer()
	rc.Bootstrap = len(n.cfg.Bootstrap) == 0
	rc.Logger = n.cfg.Logger.With("sys", "consensus")
	rc.Forwarder = forwarder{n}
	// A dial to a node that is gone waits this long (its QUIC address never
	// refuses), and raft's shutdown waits for such dials: keep it short.
	// Snapshot installs scale it with their size.
	rc.TransportTimeout = 2 * time.Second
	if n.raft, err = consensus.Open(rc, n.ledger); err != nil {
		return err // "open ledger: ..."
	}
	n.members.refresh(ctx)
	n.serveProtocols()
	n.push = push.New(n.host.Libp2p(), n.store, push.Options{
		Accept:  n.acceptPush,
		Confirm: n.confirmPush,
		ChunkSize: func() int64 {
			s, _ := n.settings()
			return s.ChunkSize
		},
		Owner:  func(id string) string { return leasePrefix + id },
		Sign:   n.host.Sign,
		Self:   n.host.ID().String(),
		Logger: n.cfg.Logger.With("sys", "push"),
	})
	// A chunk takes milliseconds; a holder that has not answered in 5 s
	// (gone, and the feed does not know yet) is passed over for the next.
	n.fetch = fetch.New(n.host.Libp2p(), peerStore{n}, fetch.Options{Timeout: fetchTimeout, Logger: n.cfg.Logger.With("sys", "fetch")})
	n.audit = audit.New(n.host.Libp2p(), verifiedStore{n}, audit.Options{Timeout: n.cfg.AuditTimeout, Logger: n.cfg.Logger.With("sys", "audit")})
	// A witness fetches a chunk from another holder and challenges the
	// holder: both bounded, plus the catch-up with the ledger.
	n.witness = witness.New(n.host.Libp2p(), witnessChecker{n}, witness.Options{
		Timeout: catchUpTimeout + fetchTimeout + n.cfg.AuditTimeout + 5*time.Second,
		Handler: []wire.HandlerOption{n.peerLimits},
	})
	if len(n.cfg.Bootstrap) > 0 {
		// Joining is idempotent: a node that is already a member keeps its
		// role. A member started again asks too (it may have been removed
		// while down), but goes on when no one can answer yet: when the
		// whole network starts again, its peers may not serve joins yet,
		// or it may be the leader itself, and the ledger it has to wait for
		// is its own log's.
		if err := n.join(ctx); err != nil {
			if !n.member() {
				return err
			}
			// The normal case of a restart, not a fault: a member needs
			// no join to go on, and the ledger tells whether it still is one.
			n.log.Info("rejoining as a member; waiting for the ledger", "join", err)
		}
	}
	// The DHT after the join: the peers serve it to members only.
	if err := n.host.BootstrapDHT(ctx); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := n.raft.WaitReady(ctx); err != nil {
		return fmt.Errorf("wait for the ledger: %w", err)
	}
	if err := n.genesis(ctx); err != nil {
		return err
	}
	if !n.cfg.Dev {
		if err := n.startFeed(ctx); err != nil {
			return err
		}
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.every(loopCtx, time.Second, n.members.refresh)
	n.every(loopCtx, knownPeersInterval, n.saveKnownPeers)
	n.loadUnpaid(loopCtx)
	n.reconcile(loopCtx)
	n.everyOrKicked(loopCtx, n.cfg.ExpiryInterval, n.expireKick, n.expire)
	n.every(loopCtx, recordsPruneInterval, n.pruneRecords)
	// Garbage is collected at once too when a write found the disk full.
	n.everyOrKicked(loopCtx, n.cfg.GCInterval, n.gcKick, n.collect)
	n.everyOrKicked(loopCtx, n.cfg.ExpiryInterval, n.kick, n.placeAll)
	n.wg.Add(2)
	go n.repairLoop(loopCtx)
	go n.watchLedger(loopCtx, cancel)
	if !n.cfg.Dev {
		n.every(loopCtx, n.cfg.ExpiryInterval, n.maintain)
		n.every(loopCtx, n.cfg.ExpiryInterval, n.checkCopies)
		n.every(loopCtx, n.cfg.StatusInterval, n.watchPeers)
		n.every(loopCtx, n.cfg.AuditInterval, func(ctx context.Context) {
			n.auditRound(ctx)
			n.auditAsOutsider(ctx)
		})
		n.startPriority(loopCtx)
	}
	n.log.Info("node started", "peer", n.host.ID(), "addrs", n.host.Addrs(), "dev", n.cfg.Dev)
	return nil
}

// watchLedger stops the node's loops when its replica of the ledger found
// its log damaged: nothing may be placed, unpinned or collected on the
// word of a state that cannot be trusted. The owner (the daemon) sees
// [Node.Failed] and closes the node.
func (n *Node) watchLedger(ctx context.Context, stop context.CancelFunc) {
	defer n.wg.Done()
	select {
	case <-ctx.Done():
	case <-n.raft.Failed():
		n.log.Error("the ledger's log is damaged: this node stops", "err", n.raft.Failure())
		stop()
	}
}

// Failed is closed when the node can no longer serve and must be closed:
// its replica of the ledger found its log damaged ([Node.Failure] says
// where, and what to do). Nil (never closed) before [Node.Start].
func (n *Node) Failed() <-chan struct{} {
	if n.raft == nil {
		return nil
	}
	return n.raft.Failed()
}

// Failure is why [Node.Failed] closed; nil until then.
func (n *Node) Failure() error {
	if n.raft == nil {
		return nil
	}
	return n.raft.Failure()
}

// genesis initialises a new network's settings and registers this node.
func (n *Node) genesis(ctx context.Context) error {
	settled := func() error {
		for {
			if _, ok := n.settings(); ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("wait for the network's settings: %w", ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if len(n.cfg.Bootstrap) > 0 {
		// A joining node takes the network's settings from the ledger.
		if err := settled(); err != nil {
			return err
		}
	}
	if _, ok := n.settings(); !ok {
		s := billing.DefaultSettings()
		s.Replicas = n.cfg.Replicas
		if n.cfg.Dev {
			s = billing.DevSettings()
		}
		key, err := n.admissionKey()
		if err != nil {
			return err
		}
		// Initialised already: the first node of a network started again,
		// whose replica has not replayed the log yet. It takes the
		// settings from there, like a joining node.
		init := &billing.Init{Settings: s, AdmissionKey: key.Public().(ed25519.PublicKey), Founder: n.PeerID(), ProcessorKey: n.cfg.ProcessorKey}
		if _, err := n.apply(ctx, billing.Command{Init: init}); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("initialise the network: %w", err)
		}
		if err := settled(); err != nil {
			return err
		}
	}
	s, _ := n.settings()
	if n.cfg.Dev && !s.SelfAttest {
		return errors.New("dev: this data dir holds a network that is not a --dev network")
	}
	self := n.host.ID().String()
	var known billing.Node
	var registered bool
	n.ledger.Read(func(st *billing.State) { known, registered = st.Node(self) })
	if registered && known.HTTP == n.cfg.HTTPAddr {
		return nil
	}
	_, err := n.apply(ctx, billing.Command{Register: &billing.Register{Node: billing.Node{
		PeerID: self, PublicKey: n.host.PublicKey(), HTTP: n.cfg.HTTPAddr, Joined: n.now(),
	}}})
	if err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("register this node: %w", err)
	}
	return nil
}

// Close stops the loops and closes the ledger, the host and the store, in
// that order. Idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.host != nil && n.members != nil {
			n.saveKnownPeers(context.Background())
		}
		n.closeErr = n.closeParts()
		n.log.Info("node stopped")
	})
	return n.closeErr
}

func (n *Node) closeParts() error {
	var errs []error
	if n.feed != nil {
		errs = append(errs, n.feed.Close())
	}
	if n.host != nil && n.raft != nil {
		n.unserveProtocols()
	}
	if n.push != nil {
		errs = append(errs, n.push.Close())
	}
	if n.fetch != nil {
		errs = append(errs, n.fetch.Close())
	}
	if n.audit != nil {
		errs = append(errs, n.audit.Close())
	}
	if n.raft != nil {
		errs = append(errs, n.raft.Close())
	}
	if n.rpc != nil {
		errs = append(errs, n.rpc.Close())
	}
	if n.host != nil {
		errs = append(errs, n.host.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	return errors.Join(errs...)
}

func (n *Node) now() time.Time { return n.clock.Now().UTC() }

// PeerID is the node's libp2p peer id, its name in the network.
func (n *Node) PeerID() string { return n.host.ID().String() }

// BillingToken is the bearer token POST /payments must carry.
func (n *Node) BillingToken() string { return n.token }

// TokenFile is where a node with data dir dir keeps the billing token it
// generated (when no token was configured).
func TokenFile(dir string) string { return filepath.Join(dir, "billing.token") }

// SpoolDir is a directory of the node's for request bodies that must wait
// on disk (an upload whose attributes follow its bytes).
func (n *Node) SpoolDir() string { return filepath.Join(n.cfg.DataDir, "spool") }

// loadOrCreateToken returns the configured token, or the one kept in the
// data dir, creating it (0600) on first use.
func loadOrCreateToken(dir, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := TokenFile(dir)
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("billing token file %s is empty", path)
		}
		return tok, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read billing token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate billing token: %w", err)
	}
	tok := hex.EncodeToString(raw[:])
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write billing token: %w", err)
	}
	return tok, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
