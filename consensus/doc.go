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
// [ErrNotLeader] when another member leads, [ErrTimeout] or [ErrClosed].
// [Ledger.Status] reports the member's view (leader, term, indexes, voters).
//
// # Storage
//
// Logs and raft's stable state live in raft-boltdb ("raft.db" in
// [Config].Dir) with synced writes, behind an in-memory log cache; snapshots
// ("snapshots/", two kept) are taken every SnapshotThreshold entries. A
// snapshot captures the state machine in memory on raft's FSM goroutine, so
// it is consistent with the log index it claims, and is written out while
// commands keep flowing. On restart the member restores the latest snapshot
// and replays the entries after it.
//
// # Membership
//
// In this version the group has one voter, the node itself: bootstrapped on
// first start ([Config].Bootstrap and no state on disk) and recovered from
// disk afterwards, electing itself at once. The next version adds voters and
// non-voters, joins, forwarding to the leader and promotion on the same
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
