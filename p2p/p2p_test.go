package p2p

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	key, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equals(again) {
		t.Error("reloaded key differs from the created one")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the key file", len(entries))
	}
}

func TestLoadKeyErrors(t *testing.T) {
	ecdsaKey, _, err := crypto.GenerateECDSAKeyPair(bytesReader(64))
	if err != nil {
		t.Fatal(err)
	}
	ecdsaBytes, err := crypto.MarshalPrivateKey(ecdsaKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"garbage", []byte("not a key at all"), ErrInvalidKey},
		{"empty", nil, ErrInvalidKey},
		{"ecdsa", ecdsaBytes, ErrNotEd25519},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, KeyFile), tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateKey(dir)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// bytesReader is a deterministic entropy source for key generation in tests.
func bytesReader(n int) io.Reader {
	b := make([]byte, 0, n*64)
	for i := range n * 64 {
		b = append(b, byte(i*7+1))
	}
	return bytes.NewReader(b)
}

func TestListenAddrsFor(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{in: []string{"/ip4/0.0.0.0/tcp/7071"}, want: []string{"/ip4/0.0.0.0/tcp/7071", "/ip4/0.0.0.0/udp/7071/quic-v1"}},
		{in: []string{"/ip4/127.0.0.1/tcp/0"}, want: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}},
		{in: []string{"/ip6/::1/tcp/9000"}, want: []string{"/ip6/::1/tcp/9000", "/ip6/::1/udp/9000/quic-v1"}},
		{in: []string{"/ip4/127.0.0.1/udp/5000/quic-v1"}, want: []string{"/ip4/127.0.0.1/udp/5000/quic-v1"}},
		{in: []string{"/dns4/example.com/tcp/7071"}, want: []string{"/dns4/example.com/tcp/7071"}},
		{in: []string{"/ip4/0.0.0.0/tcp/7071/ws"}, want: []string{"/ip4/0.0.0.0/tcp/7071/ws"}},
		{
			in:   []string{"/ip4/0.0.0.0/tcp/7071", "/ip4/0.0.0.0/udp/7071/quic-v1", "/ip4/0.0.0.0/tcp/7071"},
			want: []string{"/ip4/0.0.0.0/tcp/7071", "/ip4/0.0.0.0/udp/7071/quic-v1"},
		},
		{in: []string{"/ip4/0.0.0.0/tcp/7071", "/ip6/::/tcp/7072"}, want: []string{
			"/ip4/0.0.0.0/tcp/7071", "/ip4/0.0.0.0/udp/7071/quic-v1", "/ip6/::/tcp/7072", "/ip6/::/udp/7072/quic-v1",
		}},
		{in: []string{"not-a-multiaddr"}, wantErr: true},
		{in: []string{"/ip4/1.2.3.4/tcp/notaport"}, wantErr: true},
		{in: nil, wantErr: true},
	}
	for _, tt := range tests {
		got, err := ListenAddrsFor(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ListenAddrsFor(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ListenAddrsFor(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func newTestHost(t testing.TB, addrs ...string) *Host {
	t.Helper()
	if len(addrs) == 0 {
		addrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	}
	key, err := LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(t.Context(), Config{Key: key, ListenAddrs: addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

func TestNewRejectsBadConfig(t *testing.T) {
	ecdsa, _, err := crypto.GenerateECDSAKeyPair(bytesReader(64))
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := crypto.GenerateEd25519Key(bytesReader(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}},
		{Key: ecdsa, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}},
		{Key: ed},
		{Key: ed, ListenAddrs: []string{"garbage"}},
	} {
		if h, err := New(t.Context(), cfg); err == nil {
			_ = h.Close()
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestHostsConnect(t *testing.T) {
	for _, tc := range []struct{ name, proto string }{{"tcp", "tcp"}, {"quic", "quic-v1"}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newTestHost(t), newTestHost(t)
			var target []string
			for _, addr := range b.Addrs() {
				if !manet.IsIPLoopback(addr) {
					t.Errorf("address %s is not loopback", addr)
				}
				if containsProto(addr.String(), tc.proto) {
					target = append(target, addr.String())
				}
			}
			if len(target) == 0 {
				t.Fatalf("host has no %s address in %v", tc.proto, b.Addrs())
			}
			info, err := peer.AddrInfoFromString(target[0])
			if err != nil {
				t.Fatal(err)
			}
			if info.ID != b.ID() {
				t.Fatalf("address names %s, want %s", info.ID, b.ID())
			}
			if err := a.Libp2p().Connect(t.Context(), *info); err != nil {
				t.Fatalf("connect over %s: %v", tc.name, err)
			}
			conns := a.Libp2p().Network().ConnsToPeer(b.ID())
			if len(conns) == 0 {
				t.Fatal("no connection after Connect")
			}
			if got := conns[0].RemoteMultiaddr().String(); !containsProto(got, tc.proto) {
				t.Errorf("connection over %s, want %s", got, tc.proto)
			}
		})
	}
}

func containsProto(addr, proto string) bool {
	return bytes.Contains([]byte(addr+"/"), []byte("/"+proto+"/"))
}

func TestAddrsOrder(t *testing.T) {
	h := newTestHost(t, "/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1")
	addrs := h.Addrs()
	if len(addrs) == 0 {
		t.Fatal("no addresses")
	}
	t.Logf("addrs: %v", addrs)
	if !manet.IsIPLoopback(addrs[0]) {
		t.Errorf("first address %s is not loopback (all: %v)", addrs[0], addrs)
	}
	seenOther := false
	for _, a := range addrs {
		if !manet.IsIPLoopback(a) {
			seenOther = true
		} else if seenOther {
			t.Errorf("loopback address %s after a non-loopback one: %v", a, addrs)
		}
		if id, err := peer.AddrInfoFromP2pAddr(a); err != nil || id.ID != h.ID() {
			t.Errorf("address %s does not end in /p2p/%s", a, h.ID())
		}
	}
}

// Host.Sign makes exactly the signature the identity key makes through
// libp2p (crypto/ed25519): Ed25519 is deterministic, and a signature must
// not depend on which library made it.
func TestSignMatchesIdentityKey(t *testing.T) {
	key, err := LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(t.Context(), Config{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	for n := range 200 {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		got, err := h.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		want, err := key.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message of %d bytes: Host.Sign %x, identity key %x", n, got, want)
		}
	}
}

func TestSignVerify(t *testing.T) {
	h := newTestHost(t, "/ip4/127.0.0.1/tcp/0")
	msg := []byte("quote 42: 1000 nanotokens")
	sig, err := h.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	pub := h.PublicKey()
	if len(pub) != 32 {
		t.Fatalf("public key is %d bytes, want 32", len(pub))
	}
	if !Verify(pub, msg, sig) {
		t.Fatal("valid signature rejected")
	}
	fromID, err := PublicKeyOf(h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromID, pub) {
		t.Error("PublicKeyOf(ID) differs from PublicKey")
	}
	other := newTestHost(t, "/ip4/127.0.0.1/tcp/0")
	bad := slices.Clone(sig)
	bad[0] ^= 1
	for name, ok := range map[string]bool{
		"tampered message":   Verify(pub, []byte("quote 42: 1 nanotokens"), sig),
		"tampered signature": Verify(pub, msg, bad),
		"other key":          Verify(other.PublicKey(), msg, sig),
		"short key":          Verify(pub[:31], msg, sig),
		"short signature":    Verify(pub, msg, sig[:63]),
	} {
		if ok {
			t.Errorf("%s: signature accepted", name)
		}
	}
	ecdsa, _, err := crypto.GenerateECDSAKeyPair(bytesReader(64))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(ecdsa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PublicKeyOf(id); err == nil {
		t.Error("PublicKeyOf accepted a non-ed25519 peer id")
	}
}

// connectedPair returns two hosts, a connected to b.
func connectedPair(t *testing.T) (a, b *Host) {
	t.Helper()
	a, b = newTestHost(t, "/ip4/127.0.0.1/tcp/0"), newTestHost(t, "/ip4/127.0.0.1/tcp/0")
	if err := a.Libp2p().Connect(t.Context(), peer.AddrInfo{ID: b.ID(), Addrs: b.Libp2p().Addrs()}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestRaftLayer(t *testing.T) {
	a, b := connectedPair(t)
	la, lb := a.RaftLayer(), b.RaftLayer()
	if la != a.RaftLayer() {
		t.Error("RaftLayer returned a new layer while one is open")
	}
	if got := lb.Addr().String(); got != b.ID().String() {
		t.Errorf("Addr = %s, want %s", got, b.ID())
	}

	accepted := make(chan net.Conn, 1)
	acceptErr := make(chan error, 1)
	go func() {
		c, err := lb.Accept()
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- c
	}()

	ca, err := la.Dial(raft.ServerAddress(b.ID().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if _, err := ca.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	var cb net.Conn
	select {
	case cb = <-accepted:
	case err := <-acceptErr:
		t.Fatal(err)
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
	defer cb.Close()
	if cb.RemoteAddr().String() != a.ID().String() || cb.LocalAddr().String() != b.ID().String() {
		t.Errorf("accepted conn %s -> %s, want %s -> %s", cb.RemoteAddr(), cb.LocalAddr(), a.ID(), b.ID())
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(cb, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v; want ping", buf, err)
	}
	if _, err := cb.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(ca, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("read %q, %v; want pong", buf, err)
	}

	// A read deadline in the past fails the read with a timeout at once.
	if err := cb.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = cb.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past deadline: %v, want a timeout", err)
	}
	// Clearing the deadline makes the conn usable again.
	if err := cb.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(cb, buf); err != nil || string(buf) != "more" {
		t.Fatalf("read %q, %v; want more", buf, err)
	}

	// Dial errors.
	if _, err := la.Dial("not-a-peer-id", time.Second); err == nil {
		t.Error("dial to a malformed address succeeded")
	}
	if _, err := la.Dial(raft.ServerAddress(a.ID().String()), time.Second); !errors.Is(err, ErrSelfDial) {
		t.Errorf("dial to self: %v, want ErrSelfDial", err)
	}

	// Close unblocks Accept, resets handed-out conns and stops dials.
	blocked := make(chan error, 1)
	go func() {
		_, err := lb.Accept()
		blocked <- err
	}()
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-t.Context().Done():
		t.Fatal("Accept still blocked after Close")
	}
	if _, err := cb.Read(buf); err == nil {
		t.Error("read on a conn of a closed layer succeeded")
	}
	if _, err := lb.Dial(raft.ServerAddress(a.ID().String()), time.Second); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v, want net.ErrClosed", err)
	}
	if err := lb.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// With b's layer closed its handler is gone: a dial to b fails.
	if c, err := la.Dial(raft.ServerAddress(b.ID().String()), 5*time.Second); err == nil {
		// Negotiation may be lazy: the failure then shows on first use.
		_, _ = c.Write([]byte("x"))
		if _, err := c.Read(buf); err == nil {
			t.Error("stream to a peer without a raft layer worked")
		}
		c.Close()
	}
	// A new layer on b serves again.
	lb2 := b.RaftLayer()
	if lb2 == lb {
		t.Fatal("RaftLayer returned the closed layer")
	}
	go func() {
		c, err := lb2.Accept()
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- c
	}()
	c2, err := la.Dial(raft.ServerAddress(b.ID().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-accepted:
		defer c.Close()
		got := make([]byte, 5)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "again" {
			t.Fatalf("read %q, %v; want again", got, err)
		}
	case err := <-acceptErr:
		t.Fatal(err)
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
}

func TestHostCloseClosesLayer(t *testing.T) {
	h := newTestHost(t, "/ip4/127.0.0.1/tcp/0")
	l := h.RaftLayer()
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after host Close: %v, want net.ErrClosed", err)
	}
	if _, err := h.RaftLayer().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("layer of a closed host: Accept = %v, want net.ErrClosed", err)
	}
}

func TestTCPFirst(t *testing.T) {
	var addrs []multiaddr.Multiaddr
	for _, s := range []string{"/ip4/127.0.0.1/udp/4001/quic-v1", "/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4002"} {
		addrs = append(addrs, multiaddr.StringCast(s))
	}
	for _, ad := range tcpFirst(addrs) {
		_, tcp := ad.Addr.ValueForProtocol(multiaddr.P_TCP)
		if want := map[bool]time.Duration{true: 0, false: tcpHeadStart}[tcp == nil]; ad.Delay != want {
			t.Errorf("%s: delay %v, want %v", ad.Addr, ad.Delay, want)
		}
	}
}
