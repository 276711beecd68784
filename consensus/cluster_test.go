package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddsnet/dds/p2p"
	"github.com/ddsnet/dds/p2p/wire"
	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// forwardProto is the test's forwarding protocol: what the node implements
// as /dds/ledger/forward, with wire.Call and wire.Handle.
const forwardProto = protocol.ID("/dds-test/ledger/forward/1.0.0")

const rpcTimeout = 10 * time.Second

type fwdReq struct {
	Op  string `json:"op"` // "apply", "join" or "prepare"
	Cmd []byte `json:"cmd,omitempty"`
	ID  string `json:"id,omitempty"`
}

type fwdResp struct {
	Result []byte `json:"result,omitempty"`
	Role   Role   `json:"role,omitempty"`
}

// member is one node of a test group: a libp2p host whose key and raft
// directory survive restarts, its ledger, state machine and forwarding
// handler. cut simulates a partition: its raft streams are closed and
// refused, and its forwarding calls fail both ways.
type member struct {
	t       testing.TB
	keyDir  string
	dataDir string
	id      string
	host    *p2p.Host
	layer   *cutLayer
	sm      *appendLog
	ledger  atomic.Pointer[Ledger]
	cut     atomic.Bool
	unready atomic.Bool // refuses to prepare for a promotion
	mod     func(*Config)
	// quiet makes the state machine a quietLog over sm (ql).
	quiet bool
	ql    *quietLog
	// machine, when set, is the state machine instead of sm.
	machine StateMachine
}

func newMember(t testing.TB, mod func(*Config)) *member {
	return &member{t: t, keyDir: t.TempDir(), dataDir: t.TempDir(), mod: mod}
}

func (m *member) l() *Ledger { return m.ledger.Load() }

// start starts a host with the member's key and opens its ledger on its
// raft directory (it does not wait for it to be ready).
func (m *member) start(bootstrap bool) {
	t := m.t
	t.Helper()
	key, err := p2p.LoadOrCreateKey(m.keyDir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(context.Background(), p2p.Config{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	m.host, m.id = h, h.ID().String()
	wire.Handle(h.Libp2p(), forwardProto, rpcTimeout, 0, m.handle)
	m.layer = &cutLayer{StreamLayer: h.RaftLayer(), cut: &m.cut, conns: map[*cutConn]struct{}{}}
	m.sm = newAppendLog()
	m.open(bootstrap)
}

func (m *member) open(bootstrap bool) {
	t := m.t
	t.Helper()
	cfg := testConfig(m.dataDir, m.host)
	d := DefaultConfig()
	// Several voters on a shared 2-core machine: the default timing keeps
	// the leader's lease through scheduling hiccups.
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = d.HeartbeatTimeout, d.ElectionTimeout, d.LeaderLeaseTimeout
	cfg.Bootstrap = bootstrap
	cfg.Layer = m.layer
	cfg.Forwarder = m
	if os.Getenv("DDS_DEBUG_RAFT") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("me", m.id[len(m.id)-4:])
	}
	if m.mod != nil {
		m.mod(&cfg)
	}
	var sm StateMachine = m.sm
	if m.quiet {
		m.ql = &quietLog{batchLog: batchLog{appendLog: m.sm}}
		sm = m.ql
	}
	if m.machine != nil {
		sm = m.machine
	}
	l, err := Open(cfg, sm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	m.ledger.Store(l)
}

// crash closes the member's host under its running ledger, as a process
// dying would cut its connections, then stops the ledger so that its
// directory can be reopened.
func (m *member) crash() {
	_ = m.host.Close()
}

// restart starts the member again on its key and raft directory with a
// new host and a fresh state machine.
func (m *member) restart() {
	if err := m.l().Close(); err != nil {
		m.t.Fatalf("close before restart: %v", err)
	}
	_ = m.host.Close()
	m.start(false)
}

// restartFollower restarts a member of ms other than leader (with a fresh
// state machine, which replays its log), waits until it is ready again,
// and returns it.
func restartFollower(leader *member, ms ...*member) *member {
	var follower *member
	for _, m := range ms {
		if m != leader {
			follower = m
		}
	}
	follower.restart()
	mesh(ms...)
	follower.waitReady()
	return follower
}

// handle is the forwarding protocol's handler: "apply" runs ApplyLocal,
// "join" runs Join on the leader (forwarding to it when this node does not
// lead).
func (m *member) handle(ctx context.Context, _ peer.ID, req fwdReq) (fwdResp, error) {
	if m.cut.Load() {
		return fwdResp{}, errors.New("partitioned")
	}
	l := m.l()
	switch req.Op {
	case "apply":
		res, err := l.ApplyLocal(ctx, req.Cmd)
		return fwdResp{Result: res}, err
	case "join":
		if !l.IsLeader() {
			leader := l.Leader()
			if leader == "" {
				return fwdResp{}, ErrNoLeader
			}
			var resp fwdResp
			err := m.call(ctx, leader, req, &resp)
			return resp, err
		}
		role, err := l.Join(ctx, req.ID)
		return fwdResp{Role: role}, err
	case "prepare":
		if m.unready.Load() {
			return fwdResp{}, errors.New("not ready")
		}
		return fwdResp{}, l.PrepareVoter()
	}
	return fwdResp{}, fmt.Errorf("unknown op %q", req.Op)
}

// Forward implements Forwarder over the forwarding protocol.
func (m *member) Forward(ctx context.Context, leader string, cmd []byte) ([]byte, error) {
	var resp fwdResp
	if err := m.call(ctx, leader, fwdReq{Op: "apply", Cmd: cmd}, &resp); err != nil {
		return nil, err
	}
	return resp.Result, nil
}

// PrepareVoter implements VoterPreparer over the forwarding protocol.
func (m *member) PrepareVoter(ctx context.Context, id string) error {
	return m.call(ctx, id, fwdReq{Op: "prepare"}, &fwdResp{})
}

func (m *member) call(ctx context.Context, to string, req fwdReq, resp *fwdResp) error {
	if m.cut.Load() {
		return errors.New("partitioned")
	}
	p, err := peer.Decode(to)
	if err != nil {
		return err
	}
	err = wire.Call(ctx, m.host.Libp2p(), p, forwardProto, rpcTimeout, req, resp, 0)
	var re *wire.RemoteError
	if errors.As(err, &re) && strings.Contains(re.Msg, ErrNotLeader.Error()) {
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return err
}

// join asks via's forwarding handler to add m to the group.
func (m *member) join(via *member) Role {
	m.t.Helper()
	// Like the node, retry while the group has no leader (a busy machine
	// may cost the leader its lease while the group is small).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var resp fwdResp
		ctx, cancel := context.WithTimeout(m.t.Context(), 10*time.Second)
		err := m.call(ctx, via.id, fwdReq{Op: "join", ID: m.id}, &resp)
		cancel()
		if err == nil {
			return resp.Role
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("join %s via %s: %v", m.id, via.id, err)
		}
		m.t.Logf("join %s via %s: %v; retrying", m.id, via.id, err)
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *member) waitReady() {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(m.t.Context(), 30*time.Second)
	defer cancel()
	if err := m.l().WaitReady(ctx); err != nil {
		m.t.Fatalf("WaitReady %s: %v", m.id, err)
	}
}

// cutLayer wraps a raft.StreamLayer so that a partition can be switched on:
// it closes every connection it handed out, refuses dials and closes
// inbound connections as they are accepted.
type cutLayer struct {
	raft.StreamLayer
	cut   *atomic.Bool
	mu    sync.Mutex
	conns map[*cutConn]struct{}
}

type cutConn struct {
	net.Conn
	l *cutLayer
}

func (c *cutConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func (l *cutLayer) track(c net.Conn) net.Conn {
	cc := &cutConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[cc] = struct{}{}
	l.mu.Unlock()
	return cc
}

func (l *cutLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.StreamLayer.Accept()
		if err != nil {
			return nil, err
		}
		if !l.cut.Load() {
			return l.track(c), nil
		}
		_ = c.Close()
	}
}

func (l *cutLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.cut.Load() {
		return nil, errors.New("partitioned")
	}
	c, err := l.StreamLayer.Dial(address, timeout)
	if err != nil {
		return nil, err
	}
	return l.track(c), nil
}

func (m *member) setCut(cut bool) {
	m.cut.Store(cut)
	if !cut {
		return
	}
	l := m.layer
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c.Conn)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// mesh tells every member's host the addresses of every other.
func mesh(ms ...*member) {
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				a.host.Libp2p().Peerstore().AddAddrs(b.host.ID(), b.host.Libp2p().Addrs(), time.Hour)
			}
		}
	}
}

// group starts n members: the first bootstraps, the others join through
// it, one after another; every member is ready when it returns.
func group(t testing.TB, n int, mod func(*Config)) []*member {
	ms := make([]*member, n)
	for i := range ms {
		ms[i] = newMember(t, mod)
	}
	return startGroup(ms)
}

// startGroup starts the members as group does and returns them.
func startGroup(ms []*member) []*member {
	for i, m := range ms {
		m.start(i == 0)
	}
	mesh(ms...)
	ms[0].waitReady()
	for _, m := range ms[1:] {
		m.join(ms[0])
		m.waitReady()
	}
	return ms
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func leaderOf(t testing.TB, ms ...*member) *member {
	t.Helper()
	var leader *member
	waitFor(t, 20*time.Second, "a leader", func() bool {
		for _, m := range ms {
			if m.l().IsLeader() {
				leader = m
				return true
			}
		}
		return false
	})
	return leader
}

// converge waits until every member's state machine holds the same
// entries, and returns them.
func converge(t testing.TB, ms ...*member) []entry {
	t.Helper()
	var want []entry
	waitFor(t, 20*time.Second, "state machines converge", func() bool {
		want, _ = ms[0].sm.snapshotOf()
		for _, m := range ms[1:] {
			if got, _ := m.sm.snapshotOf(); !slices.Equal(got, want) {
				return false
			}
		}
		return true
	})
	return want
}

func roles(t *testing.T, l *Ledger) map[string]Role {
	t.Helper()
	ms, err := l.Members()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Role{}
	for _, m := range ms {
		out[m.ID] = m.Role
	}
	return out
}

func count(rs map[string]Role, r Role) int {
	n := 0
	for _, v := range rs {
		if v == r {
			n++
		}
	}
	return n
}

func TestJoinAndForward(t *testing.T) {
	ms := group(t, 3, nil)
	leader := leaderOf(t, ms...)
	var followers []*member
	for _, m := range ms {
		if m != leader {
			followers = append(followers, m)
		}
	}
	// Joining again keeps the role; Join elsewhere than on the leader fails.
	if role := ms[1].join(ms[0]); role != Voter {
		t.Errorf("second join: role %q", role)
	}
	if _, err := followers[0].l().Join(t.Context(), "someone"); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Join on a follower: %v, want ErrNotLeader", err)
	}
	if _, err := followers[1].l().ApplyLocal(t.Context(), []byte("x")); !errors.Is(err, ErrNotLeader) {
		t.Errorf("ApplyLocal on a follower: %v, want ErrNotLeader", err)
	}
	for _, m := range ms {
		waitFor(t, 10*time.Second, "three voters known everywhere", func() bool {
			rs := roles(t, m.l())
			return len(rs) == 3 && count(rs, Voter) == 3
		})
	}

	// Applies on followers are forwarded: the result is the leader's.
	var total time.Duration
	const n = 20
	for i := range n {
		from := followers[i%2]
		t0 := time.Now()
		res, err := from.l().Apply(t.Context(), fmt.Appendf(nil, "cmd-%d", i))
		total += time.Since(t0)
		if err != nil {
			t.Fatalf("apply %d on a follower: %v", i, err)
		}
		if want := fmt.Sprintf("%d:cmd-%d", i+1, i); string(res) != want {
			t.Fatalf("result %q, want %q", res, want)
		}
	}
	t.Logf("forwarded apply: mean %v over %d", total/n, n)
	// A follower that waits for the leader's state index has applied every
	// write acknowledged so far.
	for _, f := range followers {
		if err := f.l().WaitApplied(t.Context(), leader.l().StateIndex()); err != nil {
			t.Fatal(err)
		}
		if got := f.sm.cmds(); len(got) != n || got[n-1] != fmt.Sprintf("cmd-%d", n-1) {
			t.Fatalf("a follower caught up with the leader has %d commands: %v", len(got), got)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := followers[0].l().WaitApplied(ctx, leader.l().StateIndex()+1000); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait for an index never reached: %v", err)
	}
	res, err := leader.l().Apply(t.Context(), []byte("on-leader"))
	if err != nil || string(res) != fmt.Sprintf("%d:on-leader", n+1) {
		t.Fatalf("apply on the leader: %q, %v", res, err)
	}
	got := converge(t, ms...)
	if len(got) != n+1 {
		t.Fatalf("%d entries, want %d", len(got), n+1)
	}

	// Without a Forwarder, a follower answers ErrNotLeader as before.
	followers[0].l().cfg.Forwarder = nil
	if _, err := followers[0].l().Apply(t.Context(), []byte("x")); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Apply on a follower without a forwarder: %v", err)
	}
}

func TestPromoteOnVoterLoss(t *testing.T) {
	ms := group(t, 7, nil)
	leader := leaderOf(t, ms[:5]...)
	rs := roles(t, leader.l())
	if count(rs, Voter) != 5 || count(rs, NonVoter) != 2 {
		t.Fatalf("roles %v: want 5 voters, 2 non-voters", rs)
	}
	for i, m := range ms {
		if want := map[bool]Role{true: Voter, false: NonVoter}[i < 5]; rs[m.id] != want {
			t.Errorf("member %d is %q, want %q", i, rs[m.id], want)
		}
	}

	// The non-voters put their log's fsyncs off once their role is
	// committed; the voters never do.
	if _, err := leader.l().Apply(t.Context(), []byte("before")); err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if i >= 5 {
			waitFor(t, 10*time.Second, "a non-voter's log lazy", func() bool { return m.l().store.files.lazy.Load() })
		} else if m.l().store.files.lazy.Load() {
			t.Errorf("voter %d has a lazy log", i)
		}
	}

	// Nothing to do while everyone is alive.
	var gone sync.Map
	alive := func(id string) bool { _, g := gone.Load(id); return !g }
	if err := leader.l().Maintain(t.Context(), alive, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := ms[6].l().Maintain(t.Context(), alive, time.Second); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Maintain on a follower: %v", err)
	}

	li := slices.IndexFunc(ms[:5], func(m *member) bool { return m != leader })
	lost := ms[li]
	rest := slices.Delete(slices.Clone(ms), li, li+1)
	gone.Store(lost.id, true)
	_ = lost.l().Close()
	_ = lost.host.Close()
	const goneAfter = 300 * time.Millisecond
	if err := leader.l().Maintain(t.Context(), alive, goneAfter); err != nil {
		t.Fatal(err)
	}
	if rs := roles(t, leader.l()); rs[lost.id] != Voter {
		t.Fatalf("voter demoted on first sight of its absence: %v", rs)
	}
	waitFor(t, 20*time.Second, "a non-voter promoted", func() bool {
		// The node calls Maintain on whichever node leads.
		leader = leaderOf(t, rest...)
		if err := leader.l().Maintain(t.Context(), alive, goneAfter); err != nil {
			t.Logf("maintain on %s: %v", leader.id, err)
		}
		rs := roles(t, leader.l())
		return count(rs, Voter) == 5 && rs[lost.id] == NonVoter
	})
	promoted := min(ms[5].id, ms[6].id)
	if rs := roles(t, leader.l()); rs[promoted] != Voter {
		t.Errorf("promoted the wrong non-voter: %v, want %s", rs, promoted)
	}
	// The promoted member synced what it had put off before it stored the
	// entry that made it a voter, and syncs every append since.
	for _, m := range ms[5:] {
		if m.id != promoted {
			continue
		}
		// The leader counts the change at once; the member sees it once the
		// entry reaches its log.
		waitFor(t, 10*time.Second, "the promotion in the promoted member's log", func() bool {
			return roles(t, m.l())[promoted] == Voter
		})
		if !m.l().store.pinned {
			t.Error("the promoted member was not asked to prepare")
		}
		files := m.l().store.files
		files.mu.Lock()
		dirty := len(files.dirty)
		files.mu.Unlock()
		if files.lazy.Load() || dirty != 0 {
			t.Errorf("the promoted member's log: lazy %v, %d files with fsyncs put off", files.lazy.Load(), dirty)
		}
	}
	if _, err := ms[6].l().Apply(t.Context(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	converge(t, rest...)

	// Remove takes the lost member out.
	leader = leaderOf(t, rest...)
	if err := leader.l().Remove(t.Context(), lost.id); err != nil {
		t.Fatal(err)
	}
	if rs := roles(t, leader.l()); len(rs) != 6 || count(rs, Voter) != 5 {
		t.Errorf("after remove: %v", rs)
	}
}

// A non-voter that does not answer the leader's request to prepare is not
// promoted; the next one is.
func TestPromotionSkipsUnpreparedNonVoter(t *testing.T) {
	ms := group(t, 7, nil)
	leader := leaderOf(t, ms[:5]...)
	first, second := ms[5], ms[6]
	if second.id < first.id {
		first, second = second, first
	}
	first.unready.Store(true)
	li := slices.IndexFunc(ms[:5], func(m *member) bool { return m != leader })
	lost := ms[li]
	_ = lost.l().Close()
	_ = lost.host.Close()
	alive := func(id string) bool { return id != lost.id }
	waitFor(t, 20*time.Second, "a non-voter promoted", func() bool {
		if err := leader.l().Maintain(t.Context(), alive, 0); err != nil {
			t.Logf("maintain: %v", err)
		}
		rs := roles(t, leader.l())
		return count(rs, Voter) == 5 && rs[lost.id] == NonVoter
	})
	if rs := roles(t, leader.l()); rs[second.id] != Voter || rs[first.id] != NonVoter {
		t.Fatalf("roles %v: want %s promoted, not %s (it did not prepare)", rs, second.id, first.id)
	}
	if first.l().store.pinned || !second.l().store.pinned {
		t.Error("pinned: the unprepared one, or not the promoted one")
	}
}

func TestLeaderCrash(t *testing.T) {
	ms := group(t, 3, nil)
	old := leaderOf(t, ms...)
	var followers []*member
	for _, m := range ms {
		if m != old {
			followers = append(followers, m)
		}
	}

	var (
		mu    sync.Mutex
		acked []string
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	ackedN := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for w, f := range followers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				cmd := fmt.Sprintf("w%d-%d", w, i)
				_, err := f.l().Apply(context.Background(), []byte(cmd))
				switch {
				case err == nil:
					mu.Lock()
					acked = append(acked, cmd)
					mu.Unlock()
				case errors.Is(err, ErrNoLeader), errors.Is(err, ErrTimeout), errors.Is(err, ErrNotLeader):
					time.Sleep(10 * time.Millisecond) // back off while there is no leader
				default:
					t.Errorf("apply %s: %v", cmd, err)
					return
				}
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()
	waitFor(t, 20*time.Second, "20 applies before the crash", func() bool { return ackedN() >= 20 })

	old.crash()
	crashed := time.Now()
	before := ackedN()
	leader := leaderOf(t, followers...)
	t.Logf("new leader after %v", time.Since(crashed))
	waitFor(t, 20*time.Second, "applies resume", func() bool { return ackedN() >= before+20 })
	t.Logf("20 more applies %v after the crash", time.Since(crashed))
	stop.Store(true)
	wg.Wait()

	got := converge(t, followers...)
	seen := map[string]int{}
	for _, e := range got {
		seen[e.Cmd]++
	}
	for cmd, n := range seen {
		if n != 1 {
			t.Errorf("%s applied %d times", cmd, n)
		}
	}
	mu.Lock()
	for _, cmd := range acked {
		if seen[cmd] != 1 {
			t.Errorf("acknowledged %s is not in the state machines", cmd)
		}
	}
	mu.Unlock()

	// The old leader restarts on its directory and catches up.
	old.restart()
	mesh(ms...)
	old.waitReady()
	if _, err := old.l().Apply(t.Context(), []byte("back")); err != nil {
		t.Fatalf("apply on the restarted node: %v", err)
	}
	final := converge(t, leader, followers[0], followers[1], old)
	if len(final) != len(got)+1 {
		t.Errorf("%d entries after restart, want %d", len(final), len(got)+1)
	}
}

func TestPartition(t *testing.T) {
	ms := group(t, 3, nil)
	applyVia := func(m *member, cmd string) {
		t.Helper()
		if _, err := m.l().Apply(t.Context(), []byte(cmd)); err != nil {
			t.Fatalf("apply %s: %v", cmd, err)
		}
	}
	applyVia(ms[1], "before")
	converge(t, ms...)
	leader := leaderOf(t, ms...)
	cut := ms[slices.IndexFunc(ms, func(m *member) bool { return m != leader })]
	var majority []*member
	for _, m := range ms {
		if m != cut {
			majority = append(majority, m)
		}
	}

	cut.setCut(true)
	waitFor(t, 20*time.Second, "the partitioned node loses its leader", func() bool {
		return cut.l().Leader() == ""
	})
	waitFor(t, 20*time.Second, "ErrNoLeader on the partitioned node", func() bool {
		t0 := time.Now()
		_, err := cut.l().Apply(t.Context(), []byte("cut-off"))
		if took := time.Since(t0); took > cut.l().cfg.ApplyTimeout+time.Second {
			t.Errorf("apply took %v", took)
		}
		return errors.Is(err, ErrNoLeader)
	})
	// Reads still work on the partitioned node.
	if got := cut.sm.cmds(); len(got) == 0 || got[0] != "before" {
		t.Errorf("partitioned node reads %q", got)
	}
	if _, err := cut.l().Members(); err != nil {
		t.Errorf("Members on the partitioned node: %v", err)
	}
	// The majority keeps going.
	for i := range 5 {
		applyVia(majority[i%2], fmt.Sprintf("during-%d", i))
	}

	cut.setCut(false)
	converge(t, ms...)
	waitFor(t, 20*time.Second, "the healed node applies", func() bool {
		_, err := cut.l().Apply(t.Context(), []byte("healed"))
		return err == nil
	})
	got := converge(t, ms...)
	for _, e := range got {
		if e.Cmd == "cut-off" {
			t.Error("a command refused in the partition was applied")
		}
	}
}

func TestSnapshotInstall(t *testing.T) {
	ms := group(t, 3, func(c *Config) {
		c.SnapshotThreshold = 1 << 20 // snapshots only when the test asks
		c.TrailingLogs = 8
		c.SegmentSize = 1 << 20 // compaction frees whole segments
	})
	leader := leaderOf(t, ms...)
	var lag *member
	for _, m := range ms {
		if m != leader {
			lag = m
			break
		}
	}
	applyVia := func(from, to int, size int) {
		for i := from; i < to; i++ {
			cmd := fmt.Sprintf("cmd-%d-%s", i, strings.Repeat("x", size))
			if _, err := leader.l().Apply(t.Context(), []byte(cmd)); err != nil {
				t.Fatalf("apply %d: %v", i, err)
			}
		}
	}
	applyVia(0, 5, 0)
	converge(t, ms...)
	if err := lag.l().Close(); err != nil {
		t.Fatal(err)
	}
	// A few MiB of state while the follower is away, then a snapshot that
	// compacts the log past what it has.
	applyVia(5, 69, 64<<10)
	if err := leader.l().snapshot(); err != nil {
		t.Fatal(err)
	}
	lag.layer = &cutLayer{StreamLayer: lag.host.RaftLayer(), cut: &lag.cut, conns: map[*cutConn]struct{}{}}
	lag.sm = newAppendLog()
	lag.open(false)
	t0 := time.Now()
	got := converge(t, ms...)
	t.Logf("lagging follower caught up in %v", time.Since(t0))
	if len(got) != 69 {
		t.Fatalf("%d entries, want 69", len(got))
	}
	if _, restores := lag.sm.snapshotOf(); restores == 0 {
		t.Error("the lagging follower caught up without a snapshot install")
	}
}

// BenchmarkForwardedApply measures Apply on a follower of a three-voter
// group: forwarded to the leader over the forwarding protocol, agreed and
// answered.
func BenchmarkForwardedApply(b *testing.B) {
	ms := group(b, 3, nil)
	leader := leaderOf(b, ms...)
	from := ms[slices.IndexFunc(ms, func(m *member) bool { return m != leader })]
	cmd := []byte("quote:0123456789abcdef0123456789abcdef")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		t0 := time.Now()
		if _, err := from.l().Apply(b.Context(), cmd); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	report(b, lat, time.Since(start))
}

func TestUnjoinedWaits(t *testing.T) {
	m := newMember(t, nil)
	m.start(false)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := m.l().WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady before being added: %v", err)
	}
	if ms, err := m.l().Members(); err != nil || len(ms) != 0 {
		t.Errorf("members before being added: %v, %v", ms, err)
	}
	if _, err := m.l().Join(t.Context(), "x"); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Join on an unjoined node: %v", err)
	}
	m.l().cfg.LeaderWait = 50 * time.Millisecond
	if _, err := m.l().Apply(t.Context(), []byte("x")); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Apply on an unjoined node: %v", err)
	}
}

func TestNextChange(t *testing.T) {
	l := &Ledger{cfg: Config{ID: "a", MaxVoters: 3}}
	srv := func(id string, s raft.ServerSuffrage) raft.Server {
		return raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id), Suffrage: s}
	}
	servers := []raft.Server{
		srv("a", raft.Voter), srv("b", raft.Voter), srv("c", raft.Voter),
		srv("e", raft.Nonvoter), srv("d", raft.Nonvoter),
	}
	down := map[string]bool{"a": true, "c": true, "d": true}
	alive := func(id string) bool { return !down[id] }
	t0 := time.Now()
	if id, _ := l.nextChange(servers, alive, time.Second, t0); id != "" {
		t.Fatalf("change %q on first sight of absence", id)
	}
	if id, _ := l.nextChange(servers, alive, time.Second, t0.Add(999*time.Millisecond)); id != "" {
		t.Fatalf("change %q before goneAfter", id)
	}
	// Past goneAfter: the gone voter c is demoted, never the leader a.
	id, promote := l.nextChange(servers, alive, time.Second, t0.Add(time.Second))
	if id != "c" || promote {
		t.Fatalf("next change %q promote=%v, want demote c", id, promote)
	}
	servers[2].Suffrage = raft.Nonvoter
	// Then the alive non-voter first by id; d is gone, so e.
	id, promote = l.nextChange(servers, alive, time.Second, t0.Add(time.Second))
	if id != "e" || !promote {
		t.Fatalf("next change %q promote=%v, want promote e", id, promote)
	}
	servers[3].Suffrage = raft.Voter
	if id, _ := l.nextChange(servers, alive, time.Second, t0.Add(time.Second)); id != "" {
		t.Fatalf("change %q with MaxVoters voters", id)
	}
	// A server that comes back is forgotten; one that left the
	// configuration too.
	delete(down, "c")
	l.nextChange(servers[:4], alive, time.Second, t0.Add(2*time.Second))
	if _, ok := l.goneSince["c"]; ok {
		t.Error("c still recorded gone after coming back")
	}
	if _, ok := l.goneSince["d"]; ok {
		t.Error("d still recorded after leaving the configuration")
	}
}
