// Package consensus replicates the ledger: opaque commands agreed by a Raft
// group (hashicorp/raft) and applied, in log order, to a [StateMachine] on
// every member. It knows nothing of billing, which supplies the state
// machine, and nothing of libp2p, which supplies the transport as a
// raft.StreamLayer.
//
// A node opens its member of the group with [Open] and waits until it has
// caught up before serving reads:
//
//	cfg := consensus.DefaultConfig()
//	cfg.Dir = filepath.Join(dataDir, "raft")
//	cfg.ID = host.ID().String()
//	cfg.Layer = host.RaftLayer()
//	cfg.Bootstrap = true
//	cfg.Logger = logger.With("sys", "consensus")
//	ledger, err := consensus.Open(cfg, billingLedger)
//	if err != nil { ... }
//	defer ledger.Close()
//	if err := ledger.WaitReady(ctx); err != nil { ... }
//	result, err := ledger.Apply(ctx, cmd)
//
// [Ledger.Apply] returns the state machine's result for the command, or
// [ErrNoLeader] when the group cannot agree now (the node answers 503),
// [ErrNotLeader] when another member leads and no [Forwarder] is set,
// [ErrTimeout] or [ErrClosed].
// [Ledger.Status] reports the member's view (leader, term, indexes, voters).
//
// # Storage
//
// Logs and raft's stable state live in raft-wal ("wal/" in [Config].Dir):
// an append-only log of segment files synced once per batch, behind an
// in-memory log cache. DESIGN.md names bolt or badger; raft-wal
// (hashicorp's own log store, Consul's newer log backend) commits an Apply
// in half the time of raft-boltdb, which syncs twice per batch and
// rewrites B+tree pages: on
// this project's 2-core VM a one-voter Apply took p50 229-408 us against
// 714-827 us, a forwarded Apply among 3 voters 1.1-2.1 ms against 2.6-3.4 ms.
// A non-voter's log puts its fsyncs off (at most a second; see lazyFS):
// its acknowledgements commit nothing, and in a 32-node network on one
// 2-core machine 27 non-voters fsyncing every entry made the quote's
// commit wait behind them (p50 17 -> 13.6 ms, the daemons' CPU per quote
// 36 -> 30 ms). The leader asks it to sync everything and stay durable
// before it promotes it ([VoterPreparer]); it also syncs before it stores
// an entry that makes it a voter, and turns lazy only once its non-voter
// role is committed. A power cut loses at most the tail of a non-voter's
// log, which the leader sends again. The leader holds its appends to
// non-voters back ~NonVoterDelay (see batchingTransport), so that each
// non-voter gets the entries of that span in one RPC after they
// committed, off the commit's way, and when idle contacts a non-voter
// only every NonVoterIdle; [Ledger.FlushTo] sends a member's held appends
// at once.
//
// A data dir of an earlier version ("raft.db", raft-boltdb) is moved into
// the WAL when it opens, crash-safely (see migrateLegacy). Snapshots
// ("snapshots/", two kept) are taken every SnapshotThreshold entries;
// compaction then frees the log's whole segments that the snapshot
// covers. A snapshot captures the state machine in memory on raft's FSM
// goroutine, so it is consistent with the log index it claims, and is
// written out while commands keep flowing. On restart the member restores
// the latest snapshot and replays the entries after it.
//
// Every entry is stored with a CRC-32C of the whole entry, checked on every
// read (raft-wal itself checks only the last batch of its tail segment, at
// open). [Open] reads the whole log first and refuses a damaged one with
// [ErrDamaged], naming the entry and the directory; damage found while the
// member runs closes [Ledger.Failed], and the owner stops. Bytes the
// leader appended that do not decode are not damage (every member has the
// same): they are refused alike, and logged with their index.
//
// # Membership
//
// The first node of a network bootstraps the group ([Config].Bootstrap and
// no state on disk) as its only voter and elects itself at once. Every
// other node opens with Bootstrap false and no state: raft runs with an
// empty configuration and waits to be added; [Ledger.WaitReady] returns
// once the leader has reached it and it has applied what was committed. The
// node asks the network to add it; the request reaches the leader, whose
// handler calls [Ledger.Join]: the first MaxVoters members (5) are voters,
// later ones non-voters, so every node holds the whole ledger and reads
// locally. A node that restarts with state rejoins on its own: its
// configuration is in its log and snapshots.
//
// [Ledger.Apply] on a follower forwards the command to the leader through
// [Config].Forwarder (the node's forward protocol, whose handler on the
// leader calls [Ledger.ApplyLocal]) and returns the leader's result; with
// no leader known within LeaderWait, or the leader unreachable, it answers
// [ErrNoLeader] (503), while reads of the local state machine keep working.
//
// The leader makes every entry: its own commands and those forwarded to
// it go through its grouper (see group.go). Every member applies every
// entry itself: nothing the leader adds to an entry is taken as evidence
// (billing checks every signature on every replica).
//
// The node calls [Ledger.Maintain] periodically on the leader with a
// liveness oracle: a voter gone longer than a timeout is demoted to a
// non-voter (it keeps its data and identity and catches up when it comes
// back) and alive non-voters, by id, are promoted until there are
// MaxVoters voters again; one change at a time. [Ledger.Remove] takes a
// server out for good; [Ledger.Members] lists the configuration.
//
// A follower that lags past the leader's trailing log (TrailingLogs after
// the last snapshot) catches up by an InstallSnapshot over the same
// transport.
//
// # Why Raft runs over libp2p
//
// Raft's RPCs travel as libp2p streams of the p2p package's raft protocol
// rather than over a TCP port of their own, and a server's address is its
// peer id. So the node has one identity (the peer id is the Raft server id,
// and libp2p authenticates it on every connection), one listening port for
// everything, connections encrypted by Noise or TLS without a separate PKI,
// and the NAT-friendly, multiplexed connections libp2p maintains anyway.
// Members are reached by peer id (found through the DHT once the group has
// several members) rather than by configured host:port pairs, so an address
// change never breaks the group.
package consensus
