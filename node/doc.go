// Package node is the composition root of a dds node: it opens the chunk
// store ([chunk.Store]), the node's libp2p host ([p2p.Host]), the billing
// ledger ([billing.Ledger]) replicated by Raft ([consensus.Ledger]), and runs
// the pipelines that tie them together:
//
//   - upload: a stream of bytes is chunked, hashed and staged in the store,
//     then priced in a quote that the billing quorum attests while the
//     staged pin commits, and that the ledger records once both are done;
//   - payment: the ledger turns a paid quote into a lease; the node pins the
//     file for the lease and records itself as a holder with a signed receipt;
//   - download: the manifest and its verified chunks are streamed back, a
//     byte range at a time;
//   - extension, expiry (leases and quotes whose time is up are swept and
//     their data unpinned), reconciliation of pins with the ledger after a
//     crash, and garbage collection;
//   - the network: a node started with [Config.Bootstrap] joins the ledger's
//     Raft group through a peer (p2p/ledgerrpc's join) with its [Config.Invite],
//     which the ledger checks against the network's admission key (made by
//     the first node: [Config.AdmissionKey]); every other protocol, Raft's
//     included, serves admitted members only (members.go, TRUST.md at the
//     repository's root); writes on a follower are
//     forwarded to the leader (ledgerrpc's forward; every command is
//     signed by this node as its proposer, and every replica checks it),
//     reads come from the local replica, which first catches up with the
//     leader's state index (ledgerrpc's index) when it lacks the file or payment asked for or
//     shows a file unpaid or not yet stored (a write acknowledged through
//     another node is seen at once, not a 404 or 402 later), a quote is
//     signed by three registered peers XOR-closest to its cid (p2p/attest;
//     the ledger takes only those within billing.AttestWindow), each node
//     publishes its status on the gossipsub feed, and the leader keeps five
//     live voters, promoting a non-voter once it has made its log durable
//     (ledgerrpc's prepare);
//   - storage in the network: a paid file is pushed to Replicas holders
//     (p2p/push), which sign receipts the ledger records, and any node serves
//     it by fetching verified chunks from its holders (p2p/fetch); holders
//     are audited (p2p/audit), and one that fails is dropped only with the
//     failure reports of other members that challenged it themselves
//     (p2p/witness, drop.go).
//
// Use it as:
//
//	cfg := node.DefaultConfig()
//	cfg.DataDir, cfg.Dev = dir, true
//	n, err := node.New(cfg)
//	if err != nil { ... }
//	if err := n.Start(ctx); err != nil { ... }
//	defer n.Close()
//
// node/httpapi serves a [Node] over HTTP. Every time the node reads comes
// from [Config.Clock], so tests can move time.
package node
