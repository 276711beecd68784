// Package p2p is the node's libp2p side: its persistent identity, the host
// with its transports, and the stream protocols built on it.
//
// A node loads (or creates on first start) its ed25519 identity with
// [LoadOrCreateKey], expands the --p2p-addr values with [ListenAddrsFor] and
// starts a [Host] with [New]:
//
//	key, err := p2p.LoadOrCreateKey(dataDir)
//	addrs, err := p2p.ListenAddrsFor([]string{"/ip4/0.0.0.0/tcp/7071"})
//	h, err := p2p.New(ctx, p2p.Config{Key: key, ListenAddrs: addrs, Logger: logger})
//	defer h.Close()
//
// The host listens on TCP and QUIC, secures connections with TLS (preferred) or Noise,
// multiplexes them with yamux and runs under a connection manager and the
// resource manager ([ResourceLimits]). It dials TCP first and QUIC only
// when TCP has not connected within a quarter second: TCP carries chunks at
// twice QUIC's rate here (see tcpFirst). Its peer id ([Host.ID]) is the node's
// name everywhere; [Host.Addrs] gives its dialable addresses ending in
// /p2p/<id>.
//
// The identity key also signs what the node attests: [Host.Sign] makes an
// ed25519 signature that anyone checks with [Verify], given the raw public
// key from [Host.PublicKey] or, from the peer id alone, [PublicKeyOf].
//
// Every host runs kad-dht in server mode under a private protocol prefix
// (Config.DHTPrefix, default [DefaultDHTPrefix]: "/dds/kad/1.0.0", never the
// public IPFS DHT, no public bootstrap peers), and routes peers through it.
// A node joins a network with [Host.Bootstrap], through the peers named in
// Config.Bootstrap; a node without any runs alone until others join it.
// [Host.FindPeer] resolves a peer id to addresses (peerstore, then DHT),
// [Host.Connect] dials a peer by id and can protect the connection in the
// connection manager, [Host.Peers] lists the connected peers and
// [Host.DHT] exposes the DHT for provider records.
//
//	h, err := p2p.New(ctx, p2p.Config{Key: key, ListenAddrs: addrs,
//		Bootstrap: []string{"/ip4/10.0.0.1/tcp/7071/p2p/12D3KooW..."}})
//	err = h.Bootstrap(ctx)
//	err = h.Connect(ctx, id, "raft")
//
// The resource manager is sized for tens of nodes on one loopback host;
// [Host.ResourceBlocks] counts what it refused, which a well-sized network
// keeps at zero.
//
// Subpackages build on the host: [github.com/ddsnet/dds/p2p/wire] frames
// request/response stream protocols with size limits and deadlines, and
// [github.com/ddsnet/dds/p2p/feed] is the gossipsub status feed.
//
// A host serves members only once it is told who they are
// ([Host.SetMembership]): every stream handler registered on [Host.Libp2p]
// (and the Raft layer's, the DHT's, gossipsub's) goes through one
// membership check that resets a non-member's stream unopened; an inbound
// connection from a non-member is closed after [Probation]; the one
// protocol open to non-members is registered with [Host.HandleOpen] (the
// ledger's join, which admits with an invite). TRUST.md at the repository's
// root says what each party may do.
//
// The ledger's Raft group talks over [Host.RaftLayer]: a raft.StreamLayer
// whose connections are libp2p streams of [RaftProtocol] and whose addresses
// are peer id strings, so consensus shares the node's identity, port and
// encryption. [Host.Libp2p] exposes the underlying (routed) host for the
// protocols added on top (gossipsub, chunk exchange).
package p2p
