package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	routedhost "github.com/libp2p/go-libp2p/p2p/host/routed"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// RaftProtocol is the stream protocol that carries the ledger's Raft RPCs.
// Its version is the ledger log's format, so that nodes that would apply a
// log differently never replicate to each other: 2 has group entries and
// the ZIP-215 signature rules, 3 vouched groups (the leader's signature
// checks recorded in the entry), which a node of version 2 would refuse
// as commands while the others applied them, 4 admission (Init carries the
// admission key, Admit and Remove), which a node of version 3 would refuse,
// 5 signed commands (each command in an envelope with its proposer's
// signature; no vouched groups), which a node of version 4 could not
// decode.
const RaftProtocol protocol.ID = "/dds/raft/5.0.0"

// DefaultDHTPrefix is the kad-dht protocol prefix of a dds network: its DHT
// speaks "/dds/kad/1.0.0" and never meets the public IPFS DHT.
const DefaultDHTPrefix protocol.ID = "/dds"

// publicDHTPrefix is kad-dht's default, the public IPFS (Amino) DHT.
const publicDHTPrefix protocol.ID = "/ipfs"

var (
	// ErrInvalidKey reports an identity key file that does not decode.
	ErrInvalidKey = errors.New("invalid identity key")
	// ErrNotEd25519 reports a key of another type than ed25519.
	ErrNotEd25519 = errors.New("not an ed25519 key")
	// ErrNoListenAddrs reports an empty list of listen addresses.
	ErrNoListenAddrs = errors.New("no listen addresses")
	// ErrSelfDial reports a stream dial to the host's own peer id.
	ErrSelfDial = errors.New("dial to self")
	// ErrBootstrapAddr reports a bootstrap address that is not a multiaddr
	// ending in /p2p/<id>.
	ErrBootstrapAddr = errors.New("invalid bootstrap address")
	// ErrNoBootstrapPeers reports that none of the bootstrap peers could be
	// reached.
	ErrNoBootstrapPeers = errors.New("no bootstrap peer reachable")
	// ErrPublicDHT reports a DHT prefix that would join the public IPFS DHT.
	ErrPublicDHT = errors.New("public ipfs dht prefix refused")
	// ErrNoAddrs reports a peer whose addresses are not known, neither in the
	// peerstore nor in the DHT.
	ErrNoAddrs = errors.New("no addresses for peer")
)

// Connection manager watermarks: trimming starts above connHigh and keeps
// connLow connections. A network of tens of nodes stays below connLow.
const (
	connLow     = 128
	connHigh    = 256
	connGrace   = time.Minute
	dialTimeout = 15 * time.Second
	// tcpHeadStart is how long a dial waits on TCP before it tries QUIC.
	tcpHeadStart = 250 * time.Millisecond
)

// Config configures a [Host].
type Config struct {
	// Key is the node's identity (see [LoadOrCreateKey]); it must be ed25519.
	Key crypto.PrivKey
	// ListenAddrs are multiaddrs to listen on, e.g. "/ip4/127.0.0.1/tcp/0"
	// and "/ip4/127.0.0.1/udp/0/quic-v1" (see [ListenAddrsFor]).
	ListenAddrs []string
	// Logger receives the host's own log lines; nil discards them.
	Logger *slog.Logger
	// Bootstrap are full multiaddrs (ending in /p2p/<id>) of peers to join
	// the network through; see [Host.Bootstrap]. Empty for the first node
	// of a network, or a node on its own.
	Bootstrap []string
	// DHTPrefix is the kad-dht protocol prefix: the DHT speaks
	// DHTPrefix+"/kad/1.0.0". Empty means [DefaultDHTPrefix]; it is never
	// the public IPFS DHT's "/ipfs".
	DHTPrefix protocol.ID
}

// Host is the node's libp2p host: its identity, its transports and the
// stream protocols built on them. Create it with [New], stop it with
// [Host.Close].
type Host struct {
	host      host.Host          // the routed host behind the membership gate (gatedHost)
	open      host.Host          // the same host without the gate: HandleOpen registers on it
	ids       identify.IDService // nil if libp2p ever stops exposing it
	dht       *dht.IpfsDHT
	bootstrap []peer.AddrInfo
	blocks    *blockCounter
	gate      *gate
	key       voi.PrivateKey // the identity key, for signing
	pub       []byte
	log       *slog.Logger

	mu     sync.Mutex
	raft   *streamLayer
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// New starts a libp2p host listening on cfg.ListenAddrs with the TCP and QUIC
// transports, TLS and Noise security, yamux, a connection manager and the
// resource manager (limits sized for many nodes on one loopback host; see
// [ResourceLimits]). It also starts kad-dht in server mode under
// cfg.DHTPrefix (no public bootstrap peers; routing table and query filters
// that accept loopback and private addresses) and routes peers through it:
// a stream or connection to a peer whose addresses are unknown asks the DHT.
// The host is usable alone; [Host.Bootstrap] joins it to cfg.Bootstrap.
// mDNS, relays, hole punching and NAT port mapping are off. ctx bounds the
// start-up only.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Key == nil {
		return nil, fmt.Errorf("new host: %w: no key", ErrInvalidKey)
	}
	if cfg.Key.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("new host: %w", ErrNotEd25519)
	}
	if len(cfg.ListenAddrs) == 0 {
		return nil, fmt.Errorf("new host: %w", ErrNoListenAddrs)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pub, err := cfg.Key.GetPublic().Raw()
	if err != nil {
		return nil, fmt.Errorf("new host: public key: %w", err)
	}
	priv, err := cfg.Key.Raw()
	if err != nil {
		return nil, fmt.Errorf("new host: private key: %w", err)
	}
	if len(priv) != voi.PrivateKeySize {
		return nil, fmt.Errorf("new host: private key of %d bytes, want %d", len(priv), voi.PrivateKeySize)
	}

	prefix := cfg.DHTPrefix
	if prefix == "" {
		prefix = DefaultDHTPrefix
	}
	if prefix == publicDHTPrefix {
		return nil, fmt.Errorf("new host: %w", ErrPublicDHT)
	}
	boot, err := parseBootstrap(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("new host: %w", err)
	}

	blocks := &blockCounter{}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(ResourceLimits()), rcmgr.WithMetrics(blocks))
	if err != nil {
		return nil, fmt.Errorf("new host: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(connLow, connHigh, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("new host: connection manager: %w", err)
	}
	g := &gate{}
	dhtOpts := []dht.Option{
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(prefix),
		dht.RoutingTableFilter(func(d any, p peer.ID) bool { return g.allowed(p) && routingTableFilter(d, p) }),
		dht.QueryFilter(queryFilter),
	}
	if len(boot) > 0 {
		dhtOpts = append(dhtOpts, dht.BootstrapPeers(boot...))
	}
	bh, err := libp2p.New(
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		// Dials from ephemeral ports, not the listening one: with port
		// reuse, two hosts dialling each other at once could meet in one
		// TCP simultaneous open, where both ends play the TLS client and
		// the handshake fails (seen once in CI, TestFeedSparseTwelve).
		// dds needs no reuse: no hole punching, no observed addresses.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		// TLS 1.3 first: its AES-GCM costs half of Noise's
		// ChaCha20-Poly1305 on CPUs with AES instructions (2.2 against 3.8
		// CPU-seconds a GiB, sealed and opened, on the 2-core VMs measured).
		// Its records are written and read a batch at a time (coalescedTLS).
		libp2p.Security(libp2ptls.ID, newCoalescedTLS),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		libp2p.WithDialTimeout(dialTimeout),
		libp2p.ConnectionGater(g),
		libp2p.DialRanker(tcpFirst),
		// No observed-address manager: in libp2p v0.51 it stops reading
		// its identify subscription when the host's fx app stops, which
		// happens before the basic host closes, and never closes it; identify
		// events arriving in between blocked the event bus and Close hung
		// (TestCloseWhileIdentifyEmits). The cost: a node behind a NAT with
		// a forwarded port does not learn its public address from its
		// peers; it is reached at the addresses it listens on.
		libp2p.DisableIdentifyAddressDiscovery(),
	)
	if err != nil {
		// libp2p.New closes them only on some failures; closing twice is safe.
		_ = cm.Close()
		_ = rm.Close()
		return nil, fmt.Errorf("new host: %w", err)
	}
	// The DHT starts on the running host, not through libp2p.Routing: that
	// would build it before the host has started identify, and a bootstrap
	// dial made by the DHT at once would reach peers that then fail to
	// identify this host (so never learn its addresses).
	kad, err := dht.New(gatedHost{Host: bh, gate: g}, dhtOpts...)
	if err != nil {
		_ = bh.Close()
		return nil, fmt.Errorf("new host: kad-dht: %w", err)
	}
	routed := routedhost.Wrap(bh, kad)
	h := gatedHost{Host: routed, gate: g}
	var ids identify.IDService
	if b, ok := bh.(interface{ IDService() identify.IDService }); ok {
		ids = b.IDService()
	}
	hh := &Host{host: h, open: routed, ids: ids, dht: kad, bootstrap: boot, blocks: blocks, gate: g, key: voi.PrivateKey(priv), pub: pub, log: logger}
	logger.Info("p2p host started", "peer_id", h.ID().String(), "addrs", fmt.Sprint(hh.Addrs()),
		"dht", string(prefix)+"/kad/1.0.0", "bootstrap", len(boot))
	return hh, nil
}

// ResourceLimits returns the resource manager limits a [Host] runs with:
// libp2p's defaults scaled to the machine, with the per-peer, per-protocol
// and transient stream and connection limits raised so that tens of nodes on
// one loopback host, each fetching chunks over many parallel streams, stay
// within them. The manager is never disabled.
func ResourceLimits() rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	raise := func(b *rcmgr.BaseLimit, conns, streams int) {
		if conns > 0 {
			b.ConnsInbound = max(b.ConnsInbound, conns)
			b.ConnsOutbound = max(b.ConnsOutbound, conns)
			b.Conns = max(b.Conns, 2*conns)
		}
		b.StreamsInbound = max(b.StreamsInbound, streams)
		b.StreamsOutbound = max(b.StreamsOutbound, streams)
		b.Streams = max(b.Streams, 2*streams)
	}
	raise(&limits.SystemBaseLimit, 512, 8192)
	raise(&limits.AllowlistedSystemBaseLimit, 512, 8192)
	raise(&limits.TransientBaseLimit, 128, 1024)
	raise(&limits.AllowlistedTransientBaseLimit, 128, 1024)
	raise(&limits.ServiceBaseLimit, 0, 4096)
	raise(&limits.ServicePeerBaseLimit, 0, 1024)
	raise(&limits.ProtocolBaseLimit, 0, 4096)
	raise(&limits.ProtocolPeerBaseLimit, 0, 1024)
	raise(&limits.PeerBaseLimit, 16, 2048)
	limits.PeerBaseLimit.FD = max(limits.PeerBaseLimit.FD, 16)
	limits.ProtocolPeerBaseLimit.Memory = max(limits.ProtocolPeerBaseLimit.Memory, 64<<20)
	return limits.AutoScale()
}

// ID returns the host's peer id, the node's name everywhere.
func (h *Host) ID() peer.ID { return h.host.ID() }

// Libp2p returns the underlying libp2p host, for protocols added later. It
// routes through the DHT: a stream to a peer whose addresses are unknown
// looks them up.
func (h *Host) Libp2p() host.Host { return h.host }

// Addrs returns the host's full addresses, each ending in /p2p/<id>: loopback
// addresses first, then the others; TCP before QUIC within each group.
func (h *Host) Addrs() []multiaddr.Multiaddr {
	addrs := slices.Clone(h.host.Addrs())
	slices.SortStableFunc(addrs, func(a, b multiaddr.Multiaddr) int {
		return addrRank(a) - addrRank(b)
	})
	out, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.host.ID(), Addrs: addrs})
	if err != nil {
		// Only an empty peer id fails, and a running host always has one.
		return nil
	}
	return out
}

func addrRank(a multiaddr.Multiaddr) int {
	rank := 0
	if !manet.IsIPLoopback(a) {
		rank += 2
	}
	if _, err := a.ValueForProtocol(multiaddr.P_TCP); err != nil {
		rank++
	}
	return rank
}

// Sign signs data with the host's ed25519 identity key; [Verify] checks the
// signature against [Host.PublicKey]. Ed25519 signatures are deterministic:
// curve25519-voi makes the bytes crypto/ed25519 would, in 18 us against 30
// (this project's 2-core VM), and a node signs every quote it attests.
func (h *Host) Sign(data []byte) ([]byte, error) {
	return voi.Sign(h.key, data), nil
}

// PublicKey returns the raw 32-byte ed25519 public key of the host.
func (h *Host) PublicKey() []byte { return slices.Clone(h.pub) }

// RaftLayer returns a [raft.StreamLayer] that carries Raft over libp2p
// streams of [RaftProtocol]. Its addresses are peer id strings: Dial opens a
// stream to the peer with that id (the peer's addresses must be known to the
// host, from a connection, the peerstore or the DHT), Accept returns
// inbound streams, Addr is the host's own id. There is one open layer per
// host: calling RaftLayer again returns it, until it is closed (the Raft
// transport closes it); then the next call makes a new one. Closing the layer
// resets every stream it handed out.
func (h *Host) RaftLayer() raft.StreamLayer {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.raft != nil {
		return h.raft
	}
	l := newStreamLayer(h.host, RaftProtocol)
	l.onClose = func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.raft == l {
			h.host.RemoveStreamHandler(RaftProtocol)
			h.raft = nil
		}
	}
	if h.closed {
		// The host is gone: hand out a closed layer whose calls fail.
		l.shutdown()
		return l
	}
	h.raft = l
	h.host.SetStreamHandler(RaftProtocol, l.handle)
	return l
}

// Close closes the Raft stream layer, if open, the DHT and the libp2p host.
// It is idempotent.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		l := h.raft
		h.mu.Unlock()
		if l != nil {
			_ = l.Close()
		}
		h.gate.close()
		var errs []error
		if err := h.dht.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close dht: %w", err))
		}
		if err := h.host.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close host: %w", err))
		}
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// tcpFirst ranks a peer's addresses for dialing: TCP at once, the others
// (QUIC) after tcpHeadStart, should TCP fail. libp2p's default prefers
// QUIC; for dds, whose nodes move chunks in bulk, TCP with yamux carries
// twice the bytes (5 daemons on 2 cores: 1 GiB replicated to 3 holders in
// 13.1 s over TCP against 25.1 s over QUIC, read from a non-holder at 255
// against 123 MB/s), while quotes, small request/response calls, come out
// the same (p50 4.4 against 4.3 ms, 543 against 534 a second).
func tcpFirst(addrs []multiaddr.Multiaddr) []network.AddrDelay {
	out := make([]network.AddrDelay, 0, len(addrs))
	for _, a := range addrs {
		d := tcpHeadStart
		if _, err := a.ValueForProtocol(multiaddr.P_TCP); err == nil {
			d = 0
		}
		out = append(out, network.AddrDelay{Addr: a, Delay: d})
	}
	return out
}
