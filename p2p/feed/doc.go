// Package feed is the oracle feed: every node publishes its signed [Status]
// (HTTP address, capacity, free space, stored bytes, version, uptime, ledger
// index) on the gossipsub topic [Topic] every few seconds, and every node
// keeps from it a view of the live peers and their quality of service.
//
//	f, err := feed.New(ctx, host.Libp2p(), feed.Config{
//		Source: func() feed.Status { return feed.Status{HTTP: url, Free: store.Free()} },
//	})
//	defer f.Close()
//	for _, p := range f.Live(10 * time.Second) { ... p.Status.Free, p.Latency ... }
//
// The feed runs its own gossipsub router with strict message signing, a
// mesh of 2 peers and no flood publishing (the defaults make every status
// a burst of work across the network, see meshParams). Its validator drops
// a message that is larger than Config.MaxSize, does not decode, is
// unsigned or names another peer than its signer, is stamped longer ago
// than Config.StaleAfter or more than [MaxFuture] ahead, or replays a
// sequence number already seen from that peer (a node's sequence starts at
// its start time in nanoseconds, so it keeps growing across restarts).
//
// A node publishes every Config.Interval while the network has up to
// [PeersPerInterval] nodes; in a larger one the interval grows with the
// number of nodes heard from, up to Config.MaxInterval, so that each node
// handles about as many statuses per second whatever the network's size.
// A publish before any peer joined the topic reaches nobody, so besides
// every interval the feed publishes right after a peer joins, and
// [Feed.PublishNow] publishes on demand. [Feed.Peers], [Feed.Live] and
// [Feed.Peer] read the view; [Peer.Latency] is the peerstore's moving average
// of round-trip times. [Feed.Close] stops it all.
package feed
