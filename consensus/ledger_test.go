package consensus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/internal/p2ptest"
	"github.com/ddsnet/dds/p2p"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// appendLog is a test state machine: it records every command with its
// index and answers "<count>:<cmd>". A command "block" waits until gate is
// closed, after signalling entered.
type appendLog struct {
	mu       sync.Mutex
	entries  []entry
	restores int
	entered  chan struct{}
	gate     chan struct{}
}

type entry struct {
	Index uint64 `json:"index"`
	Cmd   string `json:"cmd"`
}

func newAppendLog() *appendLog {
	return &appendLog{entered: make(chan struct{}, 16), gate: make(chan struct{})}
}

func (a *appendLog) Apply(index uint64, cmd []byte) []byte {
	if string(cmd) == "block" {
		a.entered <- struct{}{}
		<-a.gate
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// The commands of a group share their entry's index.
	if n := len(a.entries); n > 0 && a.entries[n-1].Index > index {
		panic(fmt.Sprintf("index %d applied after %d", index, a.entries[n-1].Index))
	}
	a.entries = append(a.entries, entry{index, string(cmd)})
	return fmt.Appendf(nil, "%d:%s", len(a.entries), cmd)
}

// Index makes appendLog an IndexedStateMachine: the index of its last
// entry, also after a Restore.
func (a *appendLog) Index() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) == 0 {
		return 0
	}
	return a.entries[len(a.entries)-1].Index
}

func (a *appendLog) Snapshot(w io.Writer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return json.NewEncoder(w).Encode(a.entries)
}

func (a *appendLog) Restore(r io.Reader) error {
	var entries []entry
	if err := json.NewDecoder(r).Decode(&entries); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = entries
	a.restores++
	return nil
}

func (a *appendLog) snapshotOf() ([]entry, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.entries), a.restores
}

func (a *appendLog) cmds() []string {
	entries, _ := a.snapshotOf()
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Cmd
	}
	return out
}

func newHost(t testing.TB) *p2p.Host {
	return p2ptest.NewHost(t)
}

func testConfig(dir string, h *p2p.Host) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.ID = h.ID().String()
	cfg.Layer = h.RaftLayer()
	cfg.Bootstrap = true
	cfg.HeartbeatTimeout = 100 * time.Millisecond
	cfg.ElectionTimeout = 100 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	return cfg
}

func openLedger(t testing.TB, cfg Config, sm StateMachine) *Ledger {
	t.Helper()
	l, err := Open(cfg, sm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return l
}

func applyN(t *testing.T, l *Ledger, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := l.Apply(t.Context(), fmt.Appendf(nil, "cmd-%d", i)); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
}

func wantCmds(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("cmd-%d", i))
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	h := newHost(t)
	good := testConfig(t.TempDir(), h)
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	if err := DefaultConfig().Validate(); err == nil {
		t.Error("DefaultConfig without Dir/ID/Layer accepted")
	}
	for name, mutate := range map[string]func(*Config){
		"no dir":              func(c *Config) { c.Dir = "" },
		"no id":               func(c *Config) { c.ID = "" },
		"no layer":            func(c *Config) { c.Layer = nil },
		"no apply timeout":    func(c *Config) { c.ApplyTimeout = 0 },
		"leader wait > ":      func(c *Config) { c.LeaderWait = c.ApplyTimeout + 1 },
		"lease > heartbeat":   func(c *Config) { c.LeaderLeaseTimeout = c.HeartbeatTimeout * 2 },
		"tiny heartbeat":      func(c *Config) { c.HeartbeatTimeout = time.Millisecond },
		"no snapshot thresh":  func(c *Config) { c.SnapshotThreshold = 0 },
		"no trailing logs":    func(c *Config) { c.TrailingLogs = 0 },
		"no pool":             func(c *Config) { c.MaxPool = 0 },
		"negative max voters": func(c *Config) { c.MaxVoters = -1 },
	} {
		c := good
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := Open(c, newAppendLog()); err == nil {
			t.Errorf("%s: Open accepted", name)
		}
	}
}

func TestApplyInOrder(t *testing.T) {
	h := newHost(t)
	sm := newAppendLog()
	l := openLedger(t, testConfig(t.TempDir(), h), sm)

	for i := range 20 {
		res, err := l.Apply(t.Context(), fmt.Appendf(nil, "cmd-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%d:cmd-%d", i+1, i); string(res) != want {
			t.Fatalf("result %q, want %q", res, want)
		}
	}
	if got := sm.cmds(); !slices.Equal(got, wantCmds(0, 20)) {
		t.Fatalf("state machine holds %q", got)
	}

	// Concurrent applies are all applied once, each result its own.
	var wg sync.WaitGroup
	results := make(chan string, 40)
	for i := range 40 {
		wg.Go(func() {
			res, err := l.Apply(t.Context(), fmt.Appendf(nil, "c-%d", i))
			if err != nil {
				t.Error(err)
				return
			}
			results <- string(res)
		})
	}
	wg.Wait()
	close(results)
	seen := map[string]bool{}
	for r := range results {
		seen[r] = true
	}
	if len(seen) != 40 || len(sm.cmds()) != 60 {
		t.Fatalf("%d distinct results, %d entries; want 40, 60", len(seen), len(sm.cmds()))
	}

	st := l.Status()
	if st.State != "Leader" || st.Leader != h.ID().String() || st.ID != h.ID().String() || !l.IsLeader() {
		t.Errorf("status %+v: want this node leading", st)
	}
	if !slices.Equal(st.Voters, []string{h.ID().String()}) || len(st.NonVoters) != 0 {
		t.Errorf("voters %v non-voters %v", st.Voters, st.NonVoters)
	}
	entries, _ := sm.snapshotOf()
	last := entries[len(entries)-1].Index
	if st.CommitIndex < last || st.AppliedIndex < last || st.Term == 0 {
		t.Errorf("status %+v: commit/applied below last applied entry %d", st, last)
	}
}

func TestRestartReplaysLog(t *testing.T) {
	h := newHost(t)
	dir := t.TempDir()
	sm := newAppendLog()
	l := openLedger(t, testConfig(dir, h), sm)
	applyN(t, l, 0, 25)
	before, _ := sm.snapshotOf()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	sm2 := newAppendLog()
	l2 := openLedger(t, testConfig(dir, h), sm2)
	after, restores := sm2.snapshotOf()
	if restores != 0 {
		t.Errorf("%d restores without a snapshot", restores)
	}
	if !slices.Equal(after, before) {
		t.Fatalf("replayed %v, want %v", after, before)
	}
	if st := l2.Status(); len(st.Voters) != 1 || st.Leader != h.ID().String() {
		t.Errorf("recovered group %+v: want the node as its only voter and leader", st)
	}
	applyN(t, l2, 25, 30)
	if got := sm2.cmds(); !slices.Equal(got, wantCmds(0, 30)) {
		t.Fatalf("after restart and more applies: %q", got)
	}
}

func TestRestartFromSnapshot(t *testing.T) {
	h := newHost(t)
	dir := t.TempDir()
	cfg := testConfig(dir, h)
	cfg.TrailingLogs = 5
	sm := newAppendLog()
	l := openLedger(t, cfg, sm)
	applyN(t, l, 0, 30)
	if err := l.snapshot(); err != nil {
		t.Fatal(err)
	}
	snapIndex := l.Status().LastSnapshotIndex
	if snapIndex == 0 {
		t.Fatal("no snapshot index after a snapshot")
	}
	applyN(t, l, 30, 40)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin")); len(m) != 1 {
		t.Errorf("snapshot files %v, want one", m)
	}

	sm2 := newAppendLog()
	cfg.Layer = h.RaftLayer() // the transport closed the first one
	l2 := openLedger(t, cfg, sm2)
	entries, restores := sm2.snapshotOf()
	if restores != 1 {
		t.Fatalf("%d restores, want 1", restores)
	}
	if got := sm2.cmds(); !slices.Equal(got, wantCmds(0, 40)) {
		t.Fatalf("recovered %q", got)
	}
	// Entries up to the snapshot came from it; the rest were replayed.
	if entries[29].Index > snapIndex || entries[30].Index <= snapIndex {
		t.Errorf("snapshot at %d, entries 29/30 at %d/%d", snapIndex, entries[29].Index, entries[30].Index)
	}
	if st := l2.Status(); st.LastSnapshotIndex != snapIndex {
		t.Errorf("last snapshot index %d, want %d", st.LastSnapshotIndex, snapIndex)
	}
}

func TestAutomaticSnapshot(t *testing.T) {
	h := newHost(t)
	cfg := testConfig(t.TempDir(), h)
	cfg.SnapshotThreshold = 16
	cfg.TrailingLogs = 4
	cfg.SnapshotInterval = 20 * time.Millisecond
	l := openLedger(t, cfg, newAppendLog())
	applyN(t, l, 0, 40)
	deadline := time.Now().Add(20 * time.Second)
	for l.Status().LastSnapshotIndex == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot taken past the threshold")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseAndLeaks(t *testing.T) {
	h := newHost(t)
	l := openLedger(t, testConfig(t.TempDir(), h), newAppendLog())
	applyN(t, l, 0, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Apply(t.Context(), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
	if err := l.WaitReady(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitReady after Close: %v, want ErrClosed", err)
	}
	if st := l.Status(); st.State != "Shutdown" {
		t.Errorf("state after Close %q", st.State)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t)
}

func TestApplyContextAndTimeout(t *testing.T) {
	h := newHost(t)
	cfg := testConfig(t.TempDir(), h)
	cfg.ApplyTimeout = 200 * time.Millisecond
	cfg.LeaderWait = 100 * time.Millisecond
	sm := newAppendLog()
	l := openLedger(t, cfg, sm)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Apply(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled ctx: %v", err)
	}

	// The state machine holds "block" until the gate opens: the caller's ctx
	// ends first.
	ctx, cancel = context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := l.Apply(ctx, []byte("block"))
		errc <- err
	}()
	<-sm.entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply cancelled while applying: %v", err)
	}
	// Now the apply timeout ends first (the FSM is still blocked).
	if _, err := l.Apply(t.Context(), []byte("after")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Apply behind a blocked state machine: %v, want ErrTimeout", err)
	}
	close(sm.gate)
	// Both commands were agreed and applied in the end.
	if _, err := l.Apply(t.Context(), []byte("last")); err != nil {
		t.Fatal(err)
	}
	if got := sm.cmds(); !slices.Equal(got, []string{"block", "after", "last"}) {
		t.Fatalf("applied %q", got)
	}
}

func TestCloseWithBlockedApply(t *testing.T) {
	h := newHost(t)
	cfg := testConfig(t.TempDir(), h)
	cfg.ApplyTimeout = 100 * time.Millisecond
	cfg.LeaderWait = 50 * time.Millisecond
	sm := newAppendLog()
	l := openLedger(t, cfg, sm)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Apply(context.Background(), []byte("block"))
		errc <- err
	}()
	<-sm.entered
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	if err := <-errc; !errors.Is(err, ErrTimeout) {
		t.Errorf("blocked Apply: %v, want ErrTimeout", err)
	}
	close(sm.gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func TestNoLeader(t *testing.T) {
	h := newHost(t)
	cfg := testConfig(t.TempDir(), h)
	cfg.LeaderWait = 50 * time.Millisecond
	// Two voters that never come up: no quorum, no leader, ever.
	servers := []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.ID), Address: raft.ServerAddress(cfg.ID)}}
	for range 2 {
		other := newHost(t)
		id := other.ID().String()
		_ = other.Close()
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(id)})
	}
	l, err := open(cfg, newAppendLog(), servers)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Apply(t.Context(), []byte("x")); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Apply without quorum: %v, want ErrNoLeader", err)
	}
	if l.IsLeader() || l.Leader() != "" {
		t.Errorf("leader %q without a quorum", l.Leader())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := l.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitReady without quorum: %v", err)
	}
	if st := l.Status(); len(st.Voters) != 3 {
		t.Errorf("voters %v", st.Voters)
	}
}

func TestThreeVoters(t *testing.T) {
	hosts := []*p2p.Host{newHost(t), newHost(t), newHost(t)}
	for _, a := range hosts {
		for _, b := range hosts {
			if a != b {
				a.Libp2p().Peerstore().AddAddrs(b.ID(), b.Libp2p().Addrs(), time.Hour)
			}
		}
	}
	var servers []raft.Server
	for _, h := range hosts {
		id := h.ID().String()
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(id)})
	}
	ledgers := make([]*Ledger, 3)
	sms := make([]*appendLog, 3)
	for i, h := range hosts {
		sms[i] = newAppendLog()
		cfg := testConfig(t.TempDir(), h)
		// Several voters on a shared 2-core machine: the default timing
		// keeps the leader's lease through scheduling hiccups.
		d := DefaultConfig()
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = d.HeartbeatTimeout, d.ElectionTimeout, d.LeaderLeaseTimeout
		l, err := open(cfg, sms[i], servers)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		ledgers[i] = l
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, l := range ledgers {
		if err := l.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	leaderOf := func() (*Ledger, int) {
		for {
			for i, l := range ledgers {
				if l.IsLeader() {
					return l, i
				}
			}
			select {
			case <-ctx.Done():
				t.Fatal("no leader")
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	leader, li := leaderOf()
	for _, l := range ledgers {
		if l.Leader() == "" {
			t.Errorf("%s knows no leader after WaitReady", l.cfg.ID)
		}
		if l != leader && l.Leader() == leader.cfg.ID {
			if _, err := l.Apply(t.Context(), []byte("x")); !errors.Is(err, ErrNotLeader) {
				t.Errorf("Apply on a follower: %v, want ErrNotLeader", err)
			}
		}
	}
	// Apply through whoever leads; a command whose leader lost leadership
	// meanwhile is retried, so it may appear twice: what matters is that
	// every member ends with the same log.
	for i := range 10 {
		cmd := fmt.Appendf(nil, "cmd-%d", i)
		for {
			_, err := leader.Apply(ctx, cmd)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrNotLeader) {
				t.Fatal(err)
			}
			t.Logf("apply %s: %v; retrying", cmd, err)
			leader, li = leaderOf()
		}
	}
	want, _ := sms[li].snapshotOf()
	var got []string
	for _, e := range want {
		if len(got) == 0 || got[len(got)-1] != e.Cmd {
			got = append(got, e.Cmd)
		}
	}
	if !slices.Equal(got, wantCmds(0, 10)) {
		t.Fatalf("leader applied %q", got)
	}
	for i, sm := range sms {
		for {
			entries, _ := sm.snapshotOf()
			if slices.Equal(entries, want) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("member %d holds %v, want %v", i, entries, want)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	if st := leader.Status(); len(st.Voters) != 3 {
		t.Errorf("voters %v", st.Voters)
	}
}

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	a := newHCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), hclog.Warn)
	a.Info("chatty")
	a.Debug("chattier")
	a.Named("raft").With("k", "v").Warn("careful", "n", 1)
	a.Error("broken")
	a.StandardLogger(nil).Print("std line")
	out := buf.String()
	for _, want := range []string{"careful", "logger=raft", "k=v", "n=1", "broken", "level=ERROR", "std line"} {
		if !bytes.Contains([]byte(out), []byte(want)) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"chatty", "chattier"} {
		if bytes.Contains([]byte(out), []byte(unwanted)) {
			t.Errorf("log has %q below Warn:\n%s", unwanted, out)
		}
	}
	if a.IsInfo() || !a.IsWarn() {
		t.Error("level checks disagree with Warn")
	}

	// A group's first election is routine; an election after a leader
	// was known is not.
	buf.Reset()
	a.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "", "last-leader-id", "")
	a.Warn("failed to get previous log", "previous-index", 3)
	if buf.Len() != 0 {
		t.Errorf("routine warnings logged at Warn:\n%s", buf.String())
	}
	a.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "peer-a", "last-leader-id", raft.ServerID("peer-a"))
	if !bytes.Contains(buf.Bytes(), []byte("level=WARN")) {
		t.Errorf("an election after a known leader not at Warn:\n%s", buf.String())
	}

	// A peer that cannot be reached is a warning; a fault of the local
	// log stays an error.
	buf.Reset()
	a.Error("failed to heartbeat to", "peer", "peer-b", "error", "EOF")
	if out := buf.String(); !strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
		t.Errorf("an unreachable peer not logged at Warn:\n%s", out)
	}
	buf.Reset()
	a.Error("failed to decode incoming command", "error", raft.ErrTransportShutdown)
	if buf.Len() != 0 {
		t.Errorf("this node's own transport shutdown logged above Info:\n%s", buf.String())
	}
	buf.Reset()
	a.Error("failed to get log", "index", 7)
	if !strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("a local log fault not logged at Error:\n%s", buf.String())
	}
}

// TestHCLogAdapterRateLimitsPeerErrors: while a peer is down raft retries
// it every few seconds; the adapter logs the first failure, then one a
// minute per peer with the number it suppressed.
func TestHCLogAdapterRateLimitsPeerErrors(t *testing.T) {
	var buf bytes.Buffer
	a := newHCLogger(slog.New(slog.NewTextHandler(&buf, nil)), hclog.Warn)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.quiet = newPeerErrors(func() time.Time { return now })
	r := a.Named("raft") // derived loggers share the limit
	lines := func() []string {
		s := strings.TrimSpace(buf.String())
		buf.Reset()
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}

	// 35 failures in the first minute to peer-b: one line.
	for range 35 {
		r.Error("failed to heartbeat to", "peer", "peer-b", "backoff time", "1s", "error", "dial refused")
		now = now.Add(time.Second)
	}
	if got := lines(); len(got) != 1 || strings.Contains(got[0], "suppressed") {
		t.Fatalf("first minute to a down peer: %d lines, want 1 without a count:\n%s", len(got), strings.Join(got, "\n"))
	}
	// Another peer, and another message to the same peer, are news.
	r.Error("failed to heartbeat to", "peer", "peer-c", "error", "dial refused")
	r.Error("failed to appendEntries to", "peer", "peer-b", "error", "dial refused")
	if got := lines(); len(got) != 2 {
		t.Fatalf("another peer or message: %d lines, want 2:\n%s", len(got), strings.Join(got, "\n"))
	}
	// A minute after the first line: one more, counting the 34 between.
	now = now.Add(time.Minute - 35*time.Second)
	r.Error("failed to heartbeat to", "peer", "peer-b", "error", "dial refused")
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "suppressed=34") {
		t.Fatalf("after a minute: want one line with suppressed=34, got:\n%s", strings.Join(got, "\n"))
	}
	// Errors of this node's own log are never suppressed.
	for range 3 {
		r.Error("failed to get log", "index", 7)
	}
	if got := lines(); len(got) != 3 {
		t.Fatalf("local errors: %d lines, want 3", len(got))
	}
}

// TestHCLogAdapterPeerBackThenDownAgain: a peer that answered again for
// a while and fails anew is news again: its first failure is logged
// without the count of an outage long over.
func TestHCLogAdapterPeerBackThenDownAgain(t *testing.T) {
	var buf bytes.Buffer
	a := newHCLogger(slog.New(slog.NewTextHandler(&buf, nil)), hclog.Warn)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.quiet = newPeerErrors(func() time.Time { return now })
	for range 10 {
		a.Error("failed to heartbeat to", "peer", "peer-b", "error", "dial refused")
		now = now.Add(time.Second)
	}
	now = now.Add(time.Hour) // the peer was back meanwhile
	buf.Reset()
	a.Error("failed to heartbeat to", "peer", "peer-b", "error", "dial refused")
	if out := buf.String(); !strings.Contains(out, "failed to heartbeat to") || strings.Contains(out, "suppressed") {
		t.Errorf("a new outage an hour later: %q, want the line without a count", out)
	}
}
