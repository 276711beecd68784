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
// costs it an RPC, a log write and the state machine's work (three
// signature checks for a quote), and the leader one RPC more. In a
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
// (the commit index) are not held back, and neither is a full append (a
// member catching up).
//
// After the wait the request carries the leader's commit index of then,
// so the non-voter applies the entries at once, when that is safe: the
// node is still in the request's term, so the commit index read is one
// it reached as that term's leader, which covers only entries of its own
// log, the request's among them.
type batchingTransport struct {
	*raft.NetworkTransport
	delay   time.Duration
	maxFull int // entries that make an append full: not held back
	raft    *atomic.Pointer[raft.Raft]

	closeOnce sync.Once
	closing   chan struct{}
}

func newBatchingTransport(t *raft.NetworkTransport, delay time.Duration, maxFull int, r *atomic.Pointer[raft.Raft]) *batchingTransport {
	return &batchingTransport{NetworkTransport: t, delay: delay, maxFull: maxFull, raft: r, closing: make(chan struct{})}
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
// non-voter.
func (t *batchingTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if t.delay > 0 && len(args.Entries) > 0 && len(args.Entries) < t.maxFull && t.nonVoter(id) {
		timer := time.NewTimer(t.delay/2 + rand.N(t.delay))
		select {
		case <-timer.C:
		case <-t.closing:
			timer.Stop()
		}
		t.freshCommit(args)
	}
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
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

// Close ends the delays under way and closes the transport.
func (t *batchingTransport) Close() error {
	t.closeOnce.Do(func() { close(t.closing) })
	return t.NetworkTransport.Close()
}
