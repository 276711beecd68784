package consensus

import (
	"fmt"
	"github.com/hashicorp/raft"
	"testing"
	"time"
)

// A non-voter gets the leader's entry only after NonVoterDelay (half of it
// at least), and applies it at once: the held back append carries the
// commit index of when it goes, so with a CommitTimeout far longer than
// the test (no append that only tells the commit index) and no entry after
// it, the non-voter still applies what it received.
func TestNonVoterAppendsHeldBack(t *testing.T) {
	const delay = 2 * time.Second
	leader, nv := nonVoterGroup(t, heldBack(delay))
	before := nv.l().raft.LastIndex()
	start := time.Now()
	if _, err := leader.l().Apply(t.Context(), []byte("held")); err != nil {
		t.Fatal(err)
	}
	last := leader.l().raft.LastIndex()
	// The leader committed it; it did not go to the non-voter before half
	// the delay (checked only while that is sure).
	time.Sleep(100 * time.Millisecond)
	if time.Since(start) < delay/2 {
		if got := nv.l().raft.LastIndex(); got != before {
			t.Fatalf("non-voter's log at %d, %d before the entries: not held back", got, before)
		}
	}
	waitFor(t, 10*time.Second, "the non-voter applies the entry", func() bool {
		return len(nv.sm.cmds()) == len(leader.sm.cmds()) && nv.l().raft.AppliedIndex() >= last
	})
	if got, want := nv.sm.cmds(), leader.sm.cmds(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("non-voter applied %v, leader %v", got, want)
	}
}

// Voters are not held back: with the delay long, a voter's log has the
// entry as soon as it committed (a majority of two is both).
func TestVoterAppendsNotHeldBack(t *testing.T) {
	ms := group(t, 2, func(c *Config) { c.NonVoterDelay = time.Minute })
	leader := leaderOf(t, ms...)
	follower := ms[0]
	if follower == leader {
		follower = ms[1]
	}
	if _, err := leader.l().Apply(t.Context(), []byte("now")); err != nil {
		t.Fatal(err)
	}
	if got, want := follower.l().raft.LastIndex(), leader.l().raft.LastIndex(); got < want {
		t.Fatalf("voter's log at %d after a commit at %d", got, want)
	}
}

// An idle leader contacts a non-voter about every 2 NonVoterIdle (its
// heartbeats; the appends that tell nothing new wait staleIdle times
// NonVoterIdle, so the heartbeats go first), not at raft's pace (a
// heartbeat each HeartbeatTimeout/10, an append each CommitTimeout or
// two); the non-voter keeps knowing its leader, and an entry still
// reaches it without waiting for the idle pace.
func TestNonVoterIdlePace(t *testing.T) {
	const idle = time.Second
	leader, nv := nonVoterGroup(t, idlePaced(idle))
	id := raft.ServerID(nv.id)
	before := leader.l().trans.sent(id)
	time.Sleep(3 * time.Second)
	// raft's pace would be about 15 heartbeats and 200 appends in 3 s;
	// with the appends paced at NonVoterIdle too, about 4.5.
	if n := leader.l().trans.sent(id) - before; n > 2 || n < 1 {
		t.Fatalf("%d RPCs to the idle non-voter in 3 s, want 1 or 2", n)
	}
	if got := nv.l().raft.Leader(); got == "" {
		t.Fatal("the non-voter lost track of its leader")
	}
	start := time.Now()
	if _, err := leader.l().Apply(t.Context(), []byte("now")); err != nil {
		t.Fatal(err)
	}
	last := leader.l().raft.LastIndex()
	waitFor(t, 5*time.Second, "the non-voter applies the entry", func() bool { return nv.l().raft.AppliedIndex() >= last })
	if took := time.Since(start); took > idle/2 {
		t.Fatalf("the entry took %v to reach the non-voter: it waited for the idle pace (%v)", took, idle)
	}
}

// An append without entries that raft built before the leader appended
// more goes at once, whatever the signals said: the leader's appended()
// may fire between raft building the append and the transport's hold
// looking, and the entries, which raft sends only after it, then waited
// for the idle pace (CI saw 1.03 s). The test hands the transport such an
// append itself, one entry short of the leader's log, once the idle
// non-voter holds the commit index (so the append tells it nothing new,
// and without the check it would wait staleIdle × NonVoterIdle).
func TestAppendBuiltBeforeEntriesGoesAtOnce(t *testing.T) {
	const idle = time.Second
	leader, nv := nonVoterGroup(t, idlePaced(idle))
	l := leader.l()
	if _, err := l.Apply(t.Context(), []byte("before")); err != nil {
		t.Fatal(err)
	}
	last := l.raft.LastIndex()
	waitFor(t, 5*time.Second, "the non-voter applies the entry", func() bool { return nv.l().raft.AppliedIndex() >= last })
	id := raft.ServerID(nv.id)
	args := &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(leader.id), Addr: []byte(leader.id)},
		Term:              l.raft.CurrentTerm(),
		PrevLogEntry:      last - 1,
		LeaderCommitIndex: l.raft.CommitIndex(),
	}
	// Held, it would wait until the commit index moves (the heartbeats
	// keep its pace fresh); the group's Close ends such a wait.
	sent := make(chan error, 1)
	go func() {
		var resp raft.AppendEntriesResponse
		sent <- l.trans.AppendEntries(id, raft.ServerAddress(nv.id), args, &resp)
	}()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(idle / 2):
		t.Fatalf("an append one entry behind the leader's log still held after %v (idle pace %v)", idle/2, idle)
	}
}

// FlushTo sends the appends held back for a member at once: the
// non-voter gets the entry long before half the delay.
func TestFlushSendsHeldAppends(t *testing.T) {
	const delay = 4 * time.Second
	leader, nv := nonVoterGroup(t, heldBack(delay))
	start := time.Now()
	if _, err := leader.l().Apply(t.Context(), []byte("held")); err != nil {
		t.Fatal(err)
	}
	last := leader.l().raft.LastIndex()
	time.Sleep(100 * time.Millisecond)
	if nv.l().raft.AppliedIndex() >= last {
		t.Fatal("the entry was not held back")
	}
	leader.l().FlushTo(nv.id)
	waitFor(t, 5*time.Second, "the flushed non-voter applies the entry", func() bool { return nv.l().raft.AppliedIndex() >= last })
	if took := time.Since(start); took >= delay/2 {
		t.Fatalf("the entry took %v after a flush: held back anyway", took)
	}
}

// idlePaced sets a group's timers for the idle-pace tests: NonVoterIdle
// idle, heartbeats rare enough (2 s) for raft's own pace not to hide it,
// raft's commit-only appends frequent (10 ms), entries held 20 ms.
func idlePaced(idle time.Duration) func(*Config) {
	return func(c *Config) {
		c.HeartbeatTimeout = 2 * time.Second
		c.ElectionTimeout = 2 * time.Second
		c.LeaderLeaseTimeout = time.Second
		c.CommitTimeout = 10 * time.Millisecond
		c.NonVoterDelay = 20 * time.Millisecond
		c.NonVoterIdle = idle
	}
}

// heldBack sets a group to hold non-voters' appends back delay, with
// appends that only tell the commit index far apart (a minute), so that
// only the held appends bring a non-voter entries.
func heldBack(delay time.Duration) func(*Config) {
	return func(c *Config) {
		c.NonVoterDelay = delay
		c.CommitTimeout = time.Minute
	}
}

// nonVoterGroup starts two voters and a non-voter, whose config mod
// changes after MaxVoters is set to 2, and returns the leader and the
// non-voter. With two voters an entry commits only once the other voter
// acknowledged it, after the leader built the non-voter's append.
func nonVoterGroup(t *testing.T, mod func(*Config)) (leader, nv *member) {
	t.Helper()
	ms := group(t, 3, func(c *Config) {
		c.MaxVoters = 2
		mod(c)
	})
	leader, nv = leaderOf(t, ms...), ms[2]
	if r := roles(t, leader.l()); r[nv.id] != NonVoter {
		t.Fatalf("roles %v: want %s a non-voter", r, nv.id)
	}
	return leader, nv
}

// An append that starts with an entry appended long ago (a member
// catching up) goes to a non-voter at once; one with the leader's newest
// entries is held back. Both name a previous entry the non-voter does not
// have, so it refuses them and its log does not change.
func TestCatchUpAppendsNotHeldBack(t *testing.T) {
	const delay = 2 * time.Second
	leader, nv := nonVoterGroup(t, heldBack(delay))
	l := leader.l()
	last := l.raft.LastIndex()
	send := func(appended time.Time) <-chan time.Duration {
		args := &raft.AppendEntriesRequest{
			RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(leader.id), Addr: []byte(leader.id)},
			Term:              l.raft.CurrentTerm(),
			PrevLogEntry:      last + 100,
			PrevLogTerm:       l.raft.CurrentTerm(),
			Entries:           []*raft.Log{{Index: last + 101, Term: l.raft.CurrentTerm(), Type: raft.LogCommand, Data: []byte("x"), AppendedAt: appended}},
			LeaderCommitIndex: l.raft.CommitIndex(),
		}
		took := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			var resp raft.AppendEntriesResponse
			if err := l.trans.AppendEntries(raft.ServerID(nv.id), raft.ServerAddress(nv.id), args, &resp); err != nil {
				t.Error(err)
			} else if resp.Success {
				t.Error("the non-voter took an append past its log")
			}
			took <- time.Since(start)
		}()
		return took
	}
	old, fresh := send(time.Now().Add(-time.Hour)), send(time.Now())
	dOld, dFresh := <-old, <-fresh
	if dOld >= delay/4 {
		t.Fatalf("an append of an hour-old entry went after %v (delay %v)", dOld, delay)
	}
	if dFresh < delay/2 {
		t.Fatalf("an append of a new entry went after %v, not held back (delay %v)", dFresh, delay)
	}
	if got := nv.l().raft.LastIndex(); got > last {
		t.Fatalf("the non-voter's log moved to %d", got)
	}
}
