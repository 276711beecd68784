package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddsnet/dds/internal/p2ptest"
	"github.com/ddsnet/dds/p2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newHost(t *testing.T) *p2p.Host {
	return p2ptest.NewHost(t)
}

func connect(t *testing.T, a, b *p2p.Host) {
	t.Helper()
	lb := b.Libp2p()
	if err := a.Libp2p().Connect(t.Context(), peer.AddrInfo{ID: lb.ID(), Addrs: lb.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func newFeed(t *testing.T, h *p2p.Host, cfg Config) *Feed {
	t.Helper()
	if cfg.Interval == 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	f, err := New(t.Context(), h.Libp2p(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// newFeeds starts n unconnected hosts, each with a feed publishing
// sourceFor(i).
func newFeeds(t *testing.T, n int) ([]*p2p.Host, []*Feed) {
	t.Helper()
	hosts := make([]*p2p.Host, n)
	feeds := make([]*Feed, n)
	for i := range hosts {
		hosts[i] = newHost(t)
		feeds[i] = newFeed(t, hosts[i], Config{Source: sourceFor(i)})
	}
	return hosts, feeds
}

func sourceFor(i int) func() Status {
	return func() Status {
		return Status{HTTP: fmt.Sprintf("http://node-%d", i), Capacity: int64(1000 * (i + 1)), Free: int64(i), Version: "test", LedgerIndex: uint64(i)}
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFeedFourHosts(t *testing.T) {
	const n = 4
	hosts, feeds := newFeeds(t, n)
	// A star around host 0: the others hear each other through it.
	for i := 1; i < n; i++ {
		connect(t, hosts[i], hosts[0])
	}
	for i, f := range feeds {
		waitFor(t, fmt.Sprintf("host %d to hear the other %d", i, n-1), func() bool { return len(f.Peers()) == n-1 })
		peers := f.Peers()
		for k := 1; k < len(peers); k++ {
			if peers[k-1].Status.PeerID >= peers[k].Status.PeerID {
				t.Errorf("host %d: Peers not sorted: %v", i, peers)
			}
		}
		for j, h := range hosts {
			p, ok := f.Peer(h.ID())
			if j == i {
				if ok {
					t.Errorf("host %d lists itself", i)
				}
				continue
			}
			want := sourceFor(j)()
			st := p.Status
			if !ok || st.HTTP != want.HTTP || st.Capacity != want.Capacity || st.Free != want.Free ||
				st.LedgerIndex != want.LedgerIndex || st.PeerID != h.ID().String() || st.Seq == 0 || st.Time.IsZero() {
				t.Errorf("host %d's view of host %d: %+v, %v; want %+v", i, j, p, ok, want)
			}
			if p.LastSeen.IsZero() {
				t.Errorf("host %d: host %d never seen", i, j)
			}
		}
		if got := len(f.Live(time.Minute)); got != n-1 {
			t.Errorf("host %d: %d live peers, want %d", i, got, n-1)
		}
	}
	for i, h := range hosts {
		if b := h.ResourceBlocks(); b.Total() != 0 {
			t.Errorf("host %d: resource manager refusals %+v", i, b)
		}
	}
}

// TestFeedSparseTwelve: twelve hosts in a ring, each connected to the next
// two only, so most statuses take several hops through meshes of 2 (see
// meshParams); every host still hears all the others.
func TestFeedSparseTwelve(t *testing.T) {
	const n = 12
	hosts, feeds := newFeeds(t, n)
	for i := range hosts {
		connect(t, hosts[i], hosts[(i+1)%n])
		connect(t, hosts[i], hosts[(i+2)%n])
	}
	for i, f := range feeds {
		waitFor(t, fmt.Sprintf("host %d to hear the other %d", i, n-1), func() bool { return len(f.Live(time.Minute)) == n-1 })
	}
	for i, f := range feeds {
		for j, h := range hosts {
			if p, ok := f.Peer(h.ID()); j != i && (!ok || p.Status.HTTP != sourceFor(j)().HTTP) {
				t.Errorf("host %d's view of host %d: %+v, %v", i, j, p, ok)
			}
		}
	}
}

func TestLiveDropsStoppedHost(t *testing.T) {
	a, b, c := newHost(t), newHost(t), newHost(t)
	fa := newFeed(t, a, Config{Source: sourceFor(0)})
	newFeed(t, b, Config{Source: sourceFor(1)})
	fc := newFeed(t, c, Config{Source: sourceFor(2)})
	connect(t, b, a)
	connect(t, c, a)
	waitFor(t, "both peers live", func() bool { return len(fa.Live(time.Second)) == 2 })
	if err := fc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stopped host to leave the live view", func() bool {
		live := fa.Live(time.Second)
		return len(live) == 1 && live[0].Status.PeerID == b.ID().String()
	})
	if _, ok := fa.Peer(c.ID()); !ok {
		t.Error("a stopped host is forgotten, want it kept with its last status")
	}
	if len(fa.Peers()) != 2 {
		t.Errorf("Peers() = %d, want both ever heard from", len(fa.Peers()))
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time         { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)        { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Add(d time.Duration)    { c.ns.Add(int64(d)) }
func mustJSON(t *testing.T, v any) []byte   { b, _ := json.Marshal(v); return b }
func idOf(t *testing.T, h *p2p.Host) []byte { return []byte(h.ID()) }

// TestIntervalStretches: the interval is Config.Interval up to
// PeersPerInterval nodes heard from within StaleAfter, grows in proportion
// beyond, and stops at MaxInterval.
func TestIntervalStretches(t *testing.T) {
	h := newHost(t)
	clock := &fakeClock{}
	clock.Set(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	f := newFeed(t, h, Config{Source: sourceFor(0), Clock: clock.Now, Interval: 2 * time.Second, MaxInterval: 5 * time.Second})
	fixed := newFeed(t, newHost(t), Config{Source: sourceFor(1), Clock: clock.Now, Interval: 2 * time.Second})
	hear := func(peers int) {
		for _, g := range []*Feed{f, fixed} {
			g.mu.Lock()
			clear(g.peers)
			for i := range peers {
				g.peers[peer.ID(fmt.Sprint("peer-", i))] = Peer{LastSeen: clock.Now()}
			}
			g.mu.Unlock()
		}
	}
	for _, c := range []struct {
		peers int
		want  time.Duration
	}{
		{0, 2 * time.Second},
		{PeersPerInterval - 1, 2 * time.Second},
		{PeersPerInterval, 2125 * time.Millisecond},
		{2*PeersPerInterval - 1, 4 * time.Second},
		{3 * PeersPerInterval, 5 * time.Second},
		{1000, 5 * time.Second},
	} {
		hear(c.peers)
		if got := f.Interval(); got != c.want {
			t.Errorf("%d peers: interval %v, want %v", c.peers, got, c.want)
		}
		if got := fixed.Interval(); got != 2*time.Second {
			t.Errorf("%d peers, no MaxInterval: interval %v, want 2s", c.peers, got)
		}
	}
	clock.Add(DefaultStaleAfter + time.Second)
	if got := f.Interval(); got != 2*time.Second {
		t.Errorf("1000 peers all stale: interval %v, want 2s", got)
	}
}

func TestValidator(t *testing.T) {
	h, other := newHost(t), newHost(t)
	clock := &fakeClock{}
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock.Set(now)
	f := newFeed(t, h, Config{Source: sourceFor(0), Clock: clock.Now, Interval: time.Hour})

	author := other.ID()
	status := func(seq uint64, at time.Time) Status {
		return Status{PeerID: author.String(), HTTP: "http://x", Time: at, Seq: seq}
	}
	msg := func(from []byte, data []byte, sig []byte) *pubsub.Message {
		return &pubsub.Message{Message: &pb.Message{From: from, Data: data, Signature: sig, Topic: ptr(Topic)}}
	}
	sig := []byte("signature checked by the router")
	big := status(100, now)
	big.Version = strings.Repeat("v", DefaultMaxSize)
	forged := status(50, now)
	forged.PeerID = h.ID().String()

	for _, tc := range []struct {
		name string
		m    *pubsub.Message
		want pubsub.ValidationResult
	}{
		{"valid", msg(idOf(t, other), mustJSON(t, status(10, now)), sig), pubsub.ValidationAccept},
		{"replayed", msg(idOf(t, other), mustJSON(t, status(10, now)), sig), pubsub.ValidationIgnore},
		{"older seq", msg(idOf(t, other), mustJSON(t, status(9, now)), sig), pubsub.ValidationIgnore},
		{"next seq", msg(idOf(t, other), mustJSON(t, status(11, now.Add(-29*time.Second))), sig), pubsub.ValidationAccept},
		{"unsigned", msg(idOf(t, other), mustJSON(t, status(12, now)), nil), pubsub.ValidationReject},
		{"no author", msg(nil, mustJSON(t, status(12, now)), sig), pubsub.ValidationReject},
		{"forged author", msg(idOf(t, other), mustJSON(t, forged), sig), pubsub.ValidationReject},
		{"stale", msg(idOf(t, other), mustJSON(t, status(13, now.Add(-31*time.Second))), sig), pubsub.ValidationIgnore},
		{"future", msg(idOf(t, other), mustJSON(t, status(14, now.Add(MaxFuture+time.Second))), sig), pubsub.ValidationIgnore},
		{"a little ahead", msg(idOf(t, other), mustJSON(t, status(15, now.Add(time.Second))), sig), pubsub.ValidationAccept},
		{"oversized", msg(idOf(t, other), mustJSON(t, big), sig), pubsub.ValidationReject},
		{"garbage", msg(idOf(t, other), []byte("\x00not json"), sig), pubsub.ValidationReject},
		{"empty", msg(idOf(t, other), nil, sig), pubsub.ValidationReject},
	} {
		if got := f.validate(t.Context(), author, tc.m); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestForgedStatusDropped runs a rogue gossipsub router on the topic, without
// the feed's validator: its forged status (naming another peer) never
// reaches the feed's view, while its honest one does.
func TestForgedStatusDropped(t *testing.T) {
	victim, rogue, framed := newHost(t), newHost(t), newHost(t)
	f := newFeed(t, victim, Config{Source: sourceFor(0)})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ps, err := pubsub.NewGossipSub(ctx, rogue.Libp2p())
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(Topic)
	if err != nil {
		t.Fatal(err)
	}
	connect(t, rogue, victim)
	waitFor(t, "the rogue to see the victim on the topic", func() bool { return len(topic.ListPeers()) == 1 })

	forged := Status{PeerID: framed.ID().String(), HTTP: "http://forged", Time: time.Now(), Seq: uint64(time.Now().UnixNano())}
	if err := topic.Publish(ctx, mustJSON(t, forged)); err != nil {
		t.Fatal(err)
	}
	honest := Status{PeerID: rogue.ID().String(), HTTP: "http://honest", Time: time.Now(), Seq: uint64(time.Now().UnixNano())}
	if err := topic.Publish(ctx, mustJSON(t, honest)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the honest status", func() bool { _, ok := f.Peer(rogue.ID()); return ok })
	if p, ok := f.Peer(framed.ID()); ok {
		t.Errorf("forged status accepted: %+v", p)
	}
	if p, _ := f.Peer(rogue.ID()); p.Status.HTTP != "http://honest" {
		t.Errorf("rogue's view %+v, want its honest status", p)
	}
	// The same status again (a replay) does not move the view.
	first, _ := f.Peer(rogue.ID())
	if err := topic.Publish(ctx, mustJSON(t, honest)); err != nil {
		t.Fatal(err)
	}
	if err := topic.Publish(ctx, mustJSON(t, Status{PeerID: rogue.ID().String(), HTTP: "http://later", Time: time.Now(), Seq: honest.Seq + 1})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the later status", func() bool { p, _ := f.Peer(rogue.ID()); return p.Status.HTTP == "http://later" })
	if p, _ := f.Peer(rogue.ID()); !p.LastSeen.After(first.LastSeen) && !p.LastSeen.Equal(first.LastSeen) {
		t.Errorf("LastSeen went back: %v -> %v", first.LastSeen, p.LastSeen)
	}
}

func TestPublishErrorsAndClose(t *testing.T) {
	h := newHost(t)
	if _, err := New(t.Context(), h.Libp2p(), Config{}); !errors.Is(err, ErrNoSource) {
		t.Errorf("New without Source: %v, want ErrNoSource", err)
	}
	f, err := New(t.Context(), h.Libp2p(), Config{Interval: time.Hour, Source: func() Status {
		return Status{Version: strings.Repeat("v", 2*DefaultMaxSize)}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.PublishNow(t.Context()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("PublishNow of an oversized status: %v, want ErrTooLarge", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := f.PublishNow(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("PublishNow after Close: %v, want ErrClosed", err)
	}
	// Nothing of the feed or its router runs on (the host does: other
	// tests' hosts and this one are checked by goleak in TestMain).
	waitFor(t, "the feed's goroutines to end", func() bool {
		buf := make([]byte, 1<<22)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "go-libp2p-pubsub") && !strings.Contains(stacks, "p2p/feed.(*Feed)")
	})

	// The host can run a new feed after the old one closed.
	f2 := newFeed(t, h, Config{Source: sourceFor(1)})
	if err := f2.PublishNow(t.Context()); err != nil {
		t.Errorf("PublishNow on a second feed: %v", err)
	}
}
