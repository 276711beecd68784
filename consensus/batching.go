package consensus

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// batchingTransport is the raft transport with the leader's appends to
// non-voters held back: each AppendEntries that carries entries to a
// non-voter waits a random time between half and one and a half
// NonVoterDelay before it goes, so that a non-voter gets the entries of
// that span in one RPC, after they have committed, and not one RPC per
// entry while the voters commit it.
//
// Why: a non-voter's acknowledgements commit nothing, but every entry
// costs it an RPC, a log write and the state machine's work (then,
// three signature checks for a quote), and the leader one RPC more. In a
// 32-node network on one 2-core machine (cmd/dds BenchmarkTestnetQuote),
// 27 non-voters doing that while the voters committed took two thirds of
// the CPU a quote cost, and the commit waited behind them: held back 20
// ms, CPU per quote 16.8 -> 10.6 ms, p50 8.4 -> 4.9 ms. The wait is random
// so that the non-voters do not all wake at once: with one fixed delay
// their batches came together and a quote that met them waited (p99 29
// ms against 22 with the random wait).
//
// The cost: a non-voter's replica trails the leader by up to the delay
// more (reads that must see the newest writes catch up with the leader
// anyway: node's catchUp). Voters, heartbeats and appends without entries
// (the commit index) are not held back, and neither is an append of a
// member catching up: a full one, or one whose entries are not the
// leader's newest (see fresh).
//
// An idle leader contacts each non-voter at most every NonVoterIdle: raft
// sends every follower a heartbeat each HeartbeatTimeout/10 and an append
// that only tells the commit index each CommitTimeout or two, ~33 RPCs a
// second, each waking the non-voter's process and the leader's. A
// non-voter needs neither that often: it elects no one, gets the commit
// index with its entries (below), and only has to hear from the leader
// within HeartbeatTimeout to keep knowing it. So an append without
// entries to a non-voter waits until NonVoterIdle has passed since the
// last RPC to it, or the leader has appended entries (which the non-voter
// is about to get), and a heartbeat until twice that has passed (the
// appends keep the contact). An append whose commit index the non-voter
// already has tells it nothing: it waits staleIdle times NonVoterIdle,
// unless the commit index moves meanwhile, so an idle non-voter hears
// only the heartbeats (32 daemons on 2 cores, idle CPU: leader 85-105 ->
// 42 ms a second, non-voters 16-19 -> 7-9). An idle 32-node network on
// 2 cores, with the delay at 100 ms too: 0.92-1.05 -> 0.62-0.71 cores.
//
// A member that must see the newest entries (node's catchUp asks the
// leader) has its held appends sent at once: flush.
//
// After the wait the request carries the leader's commit index of then,
// so the non-voter applies the entries at once, when that is safe: the
// node is still in the request's term, so the commit index read is one
// it reached as that term's leader, which covers only entries of its own
// log, the request's among them.
type batchingTransport struct {
	*raft.NetworkTransport
	delay   time.Duration
	idle    time.Duration
	maxFull int // entries that make an append full: not held back
	raft    *atomic.Pointer[raft.Raft]

	mu      sync.Mutex
	paces   map[raft.ServerID]*pace // the non-voters'
	entries chan struct{}           // closed (and replaced) when the leader appends
	commits chan struct{}           // closed (and replaced) when this node applies entries

	closeOnce sync.Once
	closing   chan struct{}
}

// pace is what the leader's transport keeps of one non-voter.
type pace struct {
	last    time.Time     // when the last RPC to it went
	sends   int           // RPCs sent to it (for tests)
	flushed chan struct{} // closed (and replaced) by flush
	eager   time.Time     // no wait until then (set by flush)
	commit  uint64        // the highest commit index sent to it
}

func newBatchingTransport(t *raft.NetworkTransport, delay, idle time.Duration, maxFull int, r *atomic.Pointer[raft.Raft]) *batchingTransport {
	return &batchingTransport{
		NetworkTransport: t, delay: delay, idle: idle, maxFull: maxFull, raft: r,
		paces: map[raft.ServerID]*pace{}, entries: make(chan struct{}), commits: make(chan struct{}), closing: make(chan struct{}),
	}
}

// nonVoter reports whether id is a non-voter in the latest configuration.
func (t *batchingTransport) nonVoter(id raft.ServerID) bool {
	r := t.raft.Load()
	if r == nil {
		return false
	}
	s, ok := suffrageOf(r.GetConfiguration().Configuration(), id)
	return ok && s == raft.Nonvoter
}

// AppendEntries sends args to target, after the delay for entries to a
// non-voter, or the wait of an idle leader.
func (t *batchingTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if (t.delay > 0 || t.idle > 0) && t.nonVoter(id) {
		switch {
		case len(args.Entries) == 0 && t.idle > 0:
			// raft's heartbeats name no previous entry and no commit index;
			// they wait twice as long, and not for entries.
			if args.PrevLogEntry == 0 && args.LeaderCommitIndex == 0 {
				t.hold(id, func(p *pace) time.Duration { return 2*t.idle - time.Since(p.last) }, false)
				break
			}
			// An append that tells a commit index the non-voter has not
			// had waits NonVoterIdle; one that tells it nothing new
			// (raft sends one each CommitTimeout or two, whatever
			// happened) staleIdle times that, unless the commit index
			// moves meanwhile.
			reach := args.PrevLogEntry
			t.hold(id, func(p *pace) time.Duration {
				if t.lastIndex() > reach {
					// The leader has entries this append was built
					// before: it goes now, and raft's next one carries
					// them (appended may have come before the hold
					// looked).
					return 0
				}
				gap := t.idle
				if t.commitIndex() <= p.commit {
					gap *= staleIdle
				}
				return gap - time.Since(p.last)
			}, true)
			t.freshCommit(args)
		case len(args.Entries) > 0 && len(args.Entries) < t.maxFull && t.delay > 0 && t.fresh(args.Entries[0]):
			until := time.Now().Add(t.delay/2 + rand.N(t.delay))
			t.hold(id, func(*pace) time.Duration { return time.Until(until) }, false)
			t.freshCommit(args)
		}
		t.mu.Lock()
		p := t.paceOf(id)
		p.last = time.Now()
		p.sends++
		t.mu.Unlock()
		if err := t.NetworkTransport.AppendEntries(id, target, args, resp); err != nil {
			return err
		}
		if resp.Success {
			t.mu.Lock()
			p.commit = max(p.commit, args.LeaderCommitIndex) // it has this commit index now
			t.mu.Unlock()
		}
		return nil
	}
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
}

// fresh reports whether an append that starts with e carries the leader's
// newest entries, which wait: e was appended less than catchUpAge delays
// ago. An append built while one was held starts with an entry at most
// one and a half delays old, plus the round trip (while 32 daemons made
// 150 quotes a second, none was taken for a catch-up). An older entry is
// a member catching up (one that has just joined, or was away): its
// append goes at once, as a full one does. Held, each step of a catch-up
// waited the delay: a 32-daemon network took 16-20 s to start with the
// delay at 200 ms (12.5-15 at 100 ms); with catch-ups at once, 10.8-13 s.
func (t *batchingTransport) fresh(e *raft.Log) bool {
	return !e.AppendedAt.IsZero() && time.Since(e.AppendedAt) < catchUpAge*t.delay
}

// catchUpAge is the age, in delays, of an entry that a member is catching
// up on.
const catchUpAge = 4

// hold waits while left (of id's pace, under t.mu) is positive, unless id
// is flushed, the leader appends entries (if forEntries) or the waits
// end. left is asked again when its time is up, and (if forEntries) when
// this node applies entries (the commit index moved): another RPC may
// have gone meanwhile.
func (t *batchingTransport) hold(id raft.ServerID, left func(*pace) time.Duration, forEntries bool) {
	for {
		t.mu.Lock()
		p := t.paceOf(id)
		d := left(p)
		eager := time.Now().Before(p.eager)
		flushed := p.flushed
		var more, commits chan struct{}
		if forEntries {
			more, commits = t.entries, t.commits
		}
		t.mu.Unlock()
		if d <= 0 || eager {
			return
		}
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
			continue
		case <-commits:
			timer.Stop()
			continue
		case <-flushed:
		case <-more:
		case <-t.closing:
		}
		timer.Stop()
		return
	}
}

// paceOf is id's pace, made on first use; t.mu is held.
func (t *batchingTransport) paceOf(id raft.ServerID) *pace {
	p, ok := t.paces[id]
	if !ok {
		p = &pace{flushed: make(chan struct{})}
		t.paces[id] = p
	}
	return p
}

// flush sends the appends held back for member id at once, and those
// that come for it within flushEager (raft may be about to hand the
// transport the entries the member waits for).
func (t *batchingTransport) flush(id raft.ServerID) {
	t.mu.Lock()
	p := t.paceOf(id)
	close(p.flushed)
	p.flushed = make(chan struct{})
	p.eager = time.Now().Add(flushEager)
	t.mu.Unlock()
}

// flushEager is how long after a flush the appends to its member go
// without waiting.
const flushEager = 50 * time.Millisecond

// appended tells the held appends without entries that the leader has
// appended some.
func (t *batchingTransport) appended() {
	t.mu.Lock()
	close(t.entries)
	t.entries = make(chan struct{})
	t.mu.Unlock()
}

// applied tells the held appends that this node applied entries: as
// leader, its commit index moved.
func (t *batchingTransport) applied() {
	t.mu.Lock()
	close(t.commits)
	t.commits = make(chan struct{})
	t.mu.Unlock()
}

// lastIndex is the local raft's last log index (0 before it runs).
func (t *batchingTransport) lastIndex() uint64 {
	if r := t.raft.Load(); r != nil {
		return r.LastIndex()
	}
	return 0
}

// commitIndex is the local raft's commit index (0 before it runs).
func (t *batchingTransport) commitIndex() uint64 {
	if r := t.raft.Load(); r != nil {
		return r.CommitIndex()
	}
	return 0
}

// staleIdle: an append to a non-voter that tells it nothing new waits
// this many NonVoterIdle.
const staleIdle = 5

// sent is the number of RPCs sent to non-voter id so far.
func (t *batchingTransport) sent(id raft.ServerID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.paceOf(id).sends
}

// freshCommit raises args' commit index to the leader's present one,
// while this node is still in args' term (see the type's comment): the
// term read after the commit index still args' means the commit index was
// reached in that term, in which this node led.
func (t *batchingTransport) freshCommit(args *raft.AppendEntriesRequest) {
	r := t.raft.Load()
	if r == nil {
		return
	}
	c := r.CommitIndex()
	if r.CurrentTerm() == args.Term && r.State() == raft.Leader {
		args.LeaderCommitIndex = max(args.LeaderCommitIndex, c)
	}
}

// AppendEntriesPipeline refuses a pipeline to a non-voter, so raft
// replicates to it one RPC at a time (each gathering what came during
// the delay of the one before).
func (t *batchingTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if t.delay > 0 && t.nonVoter(id) {
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	return t.NetworkTransport.AppendEntriesPipeline(id, target)
}

// endWaits ends the waits under way and those to come: raft's Shutdown
// waits for its replication goroutines, which may be in one.
func (t *batchingTransport) endWaits() {
	t.closeOnce.Do(func() { close(t.closing) })
}

// Close ends the waits and closes the transport.
func (t *batchingTransport) Close() error {
	t.endWaits()
	return t.NetworkTransport.Close()
}
