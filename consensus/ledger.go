package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

var (
	// ErrNoLeader means writes cannot be agreed now: the group has no leader
	// (no quorum). Retryable; the node answers 503.
	ErrNoLeader = errors.New("no leader")
	// ErrNotLeader means another node leads the group.
	ErrNotLeader = errors.New("not the leader")
	// ErrTimeout means the command was not applied within the apply timeout;
	// it may still be applied later.
	ErrTimeout = errors.New("apply timed out")
	// ErrClosed means the ledger is closed.
	ErrClosed = errors.New("closed")
)

const (
	logCacheSize   = 512
	snapshotRetain = 2
	boltOpenWait   = 2 * time.Second
	pollInterval   = 2 * time.Millisecond
	// strandedWait bounds how long Close waits, after raft has shut down,
	// for the goroutines watching apply futures.
	strandedWait = time.Second
)

// Ledger replicates opaque commands through a Raft group and applies them to
// a [StateMachine] on every member. Create it with [Open]; stop it with
// [Ledger.Close].
type Ledger struct {
	cfg   Config
	log   *slog.Logger
	raft  *raft.Raft
	trans *batchingTransport
	store *walStore
	fsm   *fsm

	closing chan struct{} // closed when Close starts

	mu      sync.Mutex
	closed  bool
	pending int           // goroutines waiting on raft futures
	drained chan struct{} // closed when pending drops to 0 after Close starts

	group grouper // the leader's commands waiting to go into the log

	memberMu  sync.Mutex           // one membership change at a time
	goneSince map[string]time.Time // servers Maintain saw gone, since when

	closeOnce sync.Once
	closeErr  error

	failed *failure // the member found its log damaged

	// barrierTerm is the last term in which this member, leading, applied
	// a barrier: every entry committed before it (by earlier leaders
	// too) is applied here (VerifyLeader).
	barrierTerm atomic.Uint64
}

// failure is a condition that stops the member for good: fail records the
// first one and closes done.
type failure struct {
	once sync.Once
	done chan struct{}
	err  error // set before done closes
}

func (f *failure) fail(err error) (first bool) {
	f.once.Do(func() {
		f.err = err
		close(f.done)
		first = true
	})
	return first
}

// Open opens (or creates) the raft state in cfg.Dir and starts this node's
// member of the group. A new directory with cfg.Bootstrap starts a group
// with this node as its only voter; existing state is recovered from disk
// (the latest snapshot restored into sm, later entries replayed once
// committed). Call [Ledger.WaitReady] before serving reads.
func Open(cfg Config, sm StateMachine) (*Ledger, error) {
	return open(cfg, sm, nil)
}

// open is Open with, for a bootstrap, an explicit initial configuration
// (tests bootstrap several voters with it; the next issue joins members
// instead).
func open(cfg Config, sm StateMachine, servers []raft.Server) (l *Ledger, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sm == nil {
		return nil, errors.New("open ledger: nil state machine")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hlog := newHCLogger(logger, hclog.Warn)

	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	store, err := openStore(cfg.Dir, cfg.SegmentSize, hlog)
	if err != nil {
		return nil, fmt.Errorf("open ledger: raft store in %s: %w", cfg.Dir, err)
	}
	defer func() {
		if err != nil {
			_ = store.Close()
		}
	}()
	if err := store.verify(); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	failed := &failure{done: make(chan struct{})}
	store.damaged = func(d *DamageError) {
		// Raft panics on some failed reads (an entry it must apply) and
		// takes others for a passing condition (one it would send a
		// follower): either way the owner hears of it first, and stops.
		if failed.fail(d) {
			logger.Error("the raft log is damaged: this member must stop", "index", d.Index, "dir", d.Dir, "err", d)
		}
	}
	logs, err := raft.NewLogCache(logCacheSize, store)
	if err != nil {
		return nil, fmt.Errorf("open ledger: log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotRetain, hlog.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("open ledger: snapshot store: %w", err)
	}
	hasState, err := raft.HasExistingState(logs, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("open ledger: read raft state: %w", err)
	}

	trans := newBatchingTransport(raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  cfg.Layer,
		MaxPool: cfg.MaxPool,
		Timeout: cfg.TransportTimeout,
		Logger:  hlog.Named("transport"),
	}), cfg.NonVoterDelay, min(cfg.NonVoterIdle, cfg.HeartbeatTimeout/2), cfg.MaxAppendEntries, &store.raft)
	store.id = raft.ServerID(cfg.ID)
	_, store.mayBeLazy = cfg.Forwarder.(VoterPreparer)
	machine := &fsm{sm: sm, awaited: new(atomic.Int64), log: logger}
	machine.committed = store.noteCommitted
	machine.onApply = trans.applied // the leader's held appends learn that the commit index moved
	r, err := raft.NewRaft(cfg.raftConfig(hlog), machine, logs, store, snaps, trans)
	if err != nil {
		_ = trans.Close()
		return nil, fmt.Errorf("open ledger: start raft: %w", err)
	}
	store.raft.Store(r)
	l = &Ledger{
		cfg:     cfg,
		log:     logger,
		raft:    r,
		trans:   trans,
		store:   store,
		fsm:     machine,
		closing: make(chan struct{}),
		failed:  failed,
	}
	defer func() {
		if err != nil {
			_ = r.Shutdown().Error()
			_ = trans.Close()
		}
	}()

	if !hasState && cfg.Bootstrap {
		if servers == nil {
			servers = []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.ID), Address: trans.LocalAddr()}}
		}
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			return nil, fmt.Errorf("open ledger: bootstrap: %w", err)
		}
		logger.Info("bootstrapped raft group", "id", cfg.ID, "voters", len(servers))
	}
	l.electAlone()
	return l, nil
}

// electAlone makes a group whose only voter is this node elect itself at
// once instead of after a heartbeat timeout: lowering the heartbeat timeout
// through ReloadConfig wakes raft's follower loop, which finds no leader
// contact and starts the election. The configured timeout is restored right
// away. Groups with other voters wait for their leader as usual.
func (l *Ledger) electAlone() {
	cf := l.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return
	}
	voters := 0
	self := false
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
			self = self || s.ID == raft.ServerID(l.cfg.ID)
		}
	}
	if voters != 1 || !self {
		return
	}
	rc := l.raft.ReloadableConfig()
	want := rc
	rc.HeartbeatTimeout -= time.Millisecond
	if err := l.raft.ReloadConfig(rc); err != nil {
		return
	}
	if err := l.raft.ReloadConfig(want); err != nil {
		l.log.Warn("restore raft timing", "err", err)
	}
}

// Forwarder sends a command to the leader and returns the state machine's
// result there. The node implements it with a /dds/ledger/forward stream
// protocol whose handler calls [Ledger.ApplyLocal]; consensus only calls it.
// When the leader answers that it does not lead (its ApplyLocal returned
// [ErrNotLeader]), Forward should return an error wrapping ErrNotLeader:
// the command was not enqueued, so Apply looks for the new leader and tries
// again (a remote [ErrTimeout] is best wrapped too: Apply reports it as
// such). Any other error means the leader could not be reached or failed:
// Apply answers [ErrNoLeader], and the command may or may not have been
// applied.
type Forwarder interface {
	Forward(ctx context.Context, leader string, cmd []byte) ([]byte, error)
}

// A VoterPreparer is a [Forwarder] that also asks a non-voter to make its
// log durable before the leader promotes it (the member's
// [Ledger.PrepareVoter]): a non-voter puts its log's fsyncs off, and the
// leader counts its acknowledgements from the moment the promotion is in
// the leader's log, before it reaches the member's. [Ledger.Maintain]
// promotes only a non-voter that answered; without a VoterPreparer, no
// member's log is lazy (see lazyFS).
type VoterPreparer interface {
	PrepareVoter(ctx context.Context, id string) error
}

// PrepareVoter makes this member's log durable, everything it put off
// synced, and keeps it durable for as long as it runs and, after a
// restart, until a committed configuration has it a voter: what the
// leader asks of a non-voter before it promotes it (see [VoterPreparer]).
func (l *Ledger) PrepareVoter() error {
	if l.isClosed() {
		return ErrClosed
	}
	return l.store.pin()
}

// forwardRetry is the pause before forwarding again after the node thought
// to lead answered that it does not.
const forwardRetry = 20 * time.Millisecond

// Apply replicates cmd and returns the state machine's result for it. On a
// follower it forwards cmd to the leader through [Config].Forwarder and
// returns the leader's result. It answers [ErrNoLeader] when the group has
// no leader (after waiting at most LeaderWait for one) or the leader cannot
// be reached, [ErrNotLeader] when another node leads and there is no
// Forwarder, [ErrTimeout] when the command is not applied within
// ApplyTimeout, [ErrClosed] after Close, and ctx.Err() when ctx ends first.
// After ErrTimeout, a ctx error, a failed forward or an error wrapping
// raft.ErrLeadershipLost the command may still be applied.
func (l *Ledger) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l.isClosed() {
		return nil, ErrClosed
	}
	deadline := time.Now().Add(l.cfg.ApplyTimeout)
	for {
		wait := time.Now().Add(l.cfg.LeaderWait)
		if deadline.Before(wait) {
			wait = deadline
		}
		leader, err := l.awaitLeader(ctx, wait)
		if err != nil {
			return nil, err
		}
		if leader == l.cfg.ID {
			return l.applyLocal(ctx, deadline, cmd)
		}
		if l.cfg.Forwarder == nil {
			return nil, fmt.Errorf("apply: %w: leader is %s", ErrNotLeader, leader)
		}
		out, err := l.forward(ctx, deadline, leader, cmd)
		if err == nil || !errors.Is(err, ErrNotLeader) {
			return out, err
		}
		// The node we thought led did not: nothing was enqueued. Look again.
		if !time.Now().Add(forwardRetry).Before(deadline) {
			return nil, fmt.Errorf("apply: %w: %w", ErrNoLeader, err)
		}
		if err := l.pause(ctx, forwardRetry); err != nil {
			return nil, err
		}
	}
}

// ApplyLocal is Apply without forwarding: what the leader's forward handler
// calls. It answers [ErrNotLeader] at once when this node does not lead, so
// a forwarded command never bounces further.
func (l *Ledger) ApplyLocal(ctx context.Context, cmd []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l.isClosed() {
		return nil, ErrClosed
	}
	if l.raft.State() != raft.Leader {
		if leader := l.Leader(); leader != "" && leader != l.cfg.ID {
			return nil, fmt.Errorf("apply: %w: leader is %s", ErrNotLeader, leader)
		}
		return nil, fmt.Errorf("apply: %w: no leader known", ErrNotLeader)
	}
	return l.applyLocal(ctx, time.Now().Add(l.cfg.ApplyTimeout), cmd)
}

func (l *Ledger) applyLocal(ctx context.Context, deadline time.Time, cmd []byte) ([]byte, error) {
	resp, err := l.applyGrouped(ctx, deadline, cmd)
	if err != nil {
		return nil, err
	}
	out, _ := resp.([]byte)
	return out, nil
}

// forward sends cmd to leader through the Forwarder, bounded by deadline,
// and maps its errors onto the package's sentinels.
func (l *Ledger) forward(ctx context.Context, deadline time.Time, leader string, cmd []byte) ([]byte, error) {
	fctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	out, err := l.cfg.Forwarder.Forward(fctx, leader, cmd)
	switch {
	case err == nil:
		return out, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, ErrTimeout):
		return nil, fmt.Errorf("forward to %s: %w", leader, err)
	case fctx.Err() != nil:
		return nil, fmt.Errorf("forward to %s: %w: %w", leader, ErrTimeout, err)
	default:
		// The leader is unreachable or failed: to the caller the group
		// cannot agree now.
		return nil, fmt.Errorf("apply: %w: forward to %s: %w", ErrNoLeader, leader, err)
	}
}

// pause waits d unless ctx ends or the ledger closes.
func (l *Ledger) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.closing:
		return ErrClosed
	}
}

// awaitLeader returns the leader's id (this node's own when it leads) once
// one is known, ErrNoLeader when none is known by the deadline.
func (l *Ledger) awaitLeader(ctx context.Context, deadline time.Time) (string, error) {
	var tick *time.Ticker
	for {
		if l.raft.State() == raft.Leader {
			return l.cfg.ID, nil
		}
		if leader := l.Leader(); leader != "" {
			return leader, nil
		}
		if !time.Now().Before(deadline) {
			return "", fmt.Errorf("apply: %w", ErrNoLeader)
		}
		if tick == nil {
			tick = time.NewTicker(pollInterval)
			defer tick.Stop()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return "", ctx.Err()
		case <-l.closing:
			return "", ErrClosed
		}
	}
}

type futureResult struct {
	resp any
	err  error
}

// await starts a raft operation and waits for its future until ctx ends or
// the deadline passes. A goroutine owned by the Ledger watches the future
// (raft futures offer only a blocking Error); Close waits for it.
func (l *Ledger) await(ctx context.Context, deadline time.Time, start func() (raft.Future, func() any)) (any, error) {
	if !l.begin() {
		return nil, ErrClosed
	}
	done := make(chan futureResult, 1)
	go func() {
		defer l.end()
		f, resp := start()
		var res futureResult
		res.err = f.Error()
		if res.err == nil && resp != nil {
			res.resp = resp()
		}
		done <- res
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case res := <-done:
		return res.resp, l.mapError(res.err)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
		return nil, ErrTimeout
	}
}

// mapError turns raft's errors into the package's sentinels.
func (l *Ledger) mapError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		if leader := l.Leader(); leader != "" && leader != l.cfg.ID {
			return fmt.Errorf("apply: %w: leader is %s", ErrNotLeader, leader)
		}
		return fmt.Errorf("apply: %w", ErrNoLeader)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("apply: %w: %w", ErrNoLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout
	default:
		return fmt.Errorf("apply: %w", err)
	}
}

// WaitReady blocks until this node knows a leader and its state machine has
// applied everything the log had committed when it started: a raft barrier
// on the leader; on a follower, until its applied index reaches the commit
// index it saw when it first knew the leader.
func (l *Ledger) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var target uint64
	for {
		if l.isClosed() {
			return ErrClosed
		}
		switch leader := l.Leader(); {
		case l.raft.State() == raft.Leader:
			_, err := l.await(ctx, time.Now().Add(l.cfg.ApplyTimeout), func() (raft.Future, func() any) {
				return l.raft.Barrier(l.cfg.ApplyTimeout), nil
			})
			switch {
			case err == nil:
				return nil
			case errors.Is(err, ErrClosed), ctx.Err() != nil:
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			// Leadership moved or the barrier timed out: look again.
		case leader != "":
			// A member that has just joined learns the commit index from
			// the leader's first appends: wait until it knows one.
			if target == 0 {
				target = l.raft.CommitIndex()
			}
			if target > 0 && l.appliedIndex() >= target {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.closing:
			return ErrClosed
		}
	}
}

// VerifyLeader confirms that this member leads and that its state machine
// has applied every write acknowledged so far, by it or by any leader
// before it: what a read needs to be linearizable. Raft's own view is not
// enough: a leader that was paused (SIGSTOP) or cut off and is running
// again answers as leader until its next lease check, while another leads
// and takes writes; and a new leader applies its predecessor's last
// entries only once an entry of its own term commits. So it applies a
// barrier once per term, and confirms each time, with a round of
// heartbeats a quorum answers, that it still leads. ErrNotLeader on a
// member that does not (any more).
func (l *Ledger) VerifyLeader(ctx context.Context) error {
	if l.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	deadline := time.Now().Add(l.cfg.ApplyTimeout)
	if term := l.raft.CurrentTerm(); l.barrierTerm.Load() != term {
		if _, err := l.await(ctx, deadline, func() (raft.Future, func() any) {
			return l.raft.Barrier(l.cfg.ApplyTimeout), nil
		}); err != nil {
			return err
		}
		l.barrierTerm.Store(term)
	}
	_, err := l.await(ctx, deadline, func() (raft.Future, func() any) { return l.raft.VerifyLeader(), nil })
	return err
}

// StateIndex returns the index of the last entry this member's state
// machine has applied. On the leader it covers every write acknowledged so
// far (a command is answered once applied there), which makes it what a
// follower's read must reach to see them all (see [Ledger.WaitApplied]).
func (l *Ledger) StateIndex() uint64 { return l.fsm.applied.Load() }

// FlushTo sends member id the appends the leader holds back for it (see
// [Config.NonVoterDelay] and [Config.NonVoterIdle]) at once: a member that
// must see the newest entries asks the leader how far it is, and the
// leader calls this before it answers. A no-op on other members.
func (l *Ledger) FlushTo(id string) { l.trans.flush(raft.ServerID(id)) }

// WaitApplied blocks until this member's state machine has applied the
// entry at index (see [Ledger.StateIndex]), ctx ends or the member closes.
func (l *Ledger) WaitApplied(ctx context.Context, index uint64) error {
	for l.StateIndex() < index {
		if err := l.pause(ctx, pollInterval); err != nil {
			return err
		}
	}
	return nil
}

// Status describes this node's view of the group. State is raft's state
// name (Follower, Candidate, Leader, Shutdown); Leader is "" when no leader
// is known; Voters and NonVoters are server ids (peer ids).
type Status struct {
	ID, Leader, State                                  string
	Term, CommitIndex, AppliedIndex, LastSnapshotIndex uint64
	Voters, NonVoters                                  []string
}

// Status returns this node's view of the group.
func (l *Ledger) Status() Status {
	s := Status{
		ID:           l.cfg.ID,
		Leader:       l.Leader(),
		State:        l.raft.State().String(),
		Term:         l.raft.CurrentTerm(),
		CommitIndex:  l.raft.CommitIndex(),
		AppliedIndex: l.appliedIndex(),
	}
	if v, err := strconv.ParseUint(l.raft.Stats()["last_snapshot_index"], 10, 64); err == nil {
		s.LastSnapshotIndex = v
	}
	if cf := l.raft.GetConfiguration(); cf.Error() == nil {
		for _, srv := range cf.Configuration().Servers {
			switch srv.Suffrage {
			case raft.Voter:
				s.Voters = append(s.Voters, string(srv.ID))
			case raft.Nonvoter:
				s.NonVoters = append(s.NonVoters, string(srv.ID))
			}
		}
	}
	return s
}

// CommitIndex is the index of the last entry this member knows to be
// committed (on a follower: as far as its own log reaches).
func (l *Ledger) CommitIndex() uint64 { return l.raft.CommitIndex() }

// AppliedIndex is the index of the last entry of the log this member has
// applied (or queued to apply), commands, configurations and raft's own
// entries alike: what [Ledger.CommitIndex] is to be compared with.
func (l *Ledger) AppliedIndex() uint64 { return l.appliedIndex() }

// appliedIndex is the index of the last entry applied to the state machine.
func (l *Ledger) appliedIndex() uint64 {
	return max(l.raft.AppliedIndex(), l.fsm.applied.Load())
}

// Leader returns the server id of the current leader, "" when none is known.
func (l *Ledger) Leader() string {
	_, id := l.raft.LeaderWithID()
	return string(id)
}

// Failed is closed when this member found its log damaged while it ran
// (a damaged log found at [Open] is Open's error): its state can no longer
// be trusted, and its owner must close it and stop ([Ledger.Failure] says
// why, naming the entry and the directory).
func (l *Ledger) Failed() <-chan struct{} { return l.failed.done }

// Failure is why [Ledger.Failed] closed (a [*DamageError]); nil until then.
func (l *Ledger) Failure() error {
	select {
	case <-l.failed.done:
		return l.failed.err
	default:
		return nil
	}
}

// IsLeader reports whether this node leads the group.
func (l *Ledger) IsLeader() bool { return l.raft.State() == raft.Leader }

// Close stops the member: new calls answer ErrClosed, in-flight applies get
// up to ApplyTimeout to finish, then raft shuts down, then the transport
// (and with it the stream layer) closes, then the log store. It is
// idempotent and returns the same error every time.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		drained := l.startClose()
		close(l.closing)
		l.waitDrained(drained, l.cfg.ApplyTimeout)
		var errs []error
		l.trans.endWaits() // raft's Shutdown waits for appends held back
		if err := l.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shutdown raft: %w", err))
		}
		if !l.waitDrained(drained, strandedWait) {
			l.log.Warn("raft futures left unresolved at shutdown")
		}
		if err := l.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close transport: %w", err))
		}
		if err := l.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft store: %w", err))
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

func (l *Ledger) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// begin registers a future watcher; false once Close has started.
func (l *Ledger) begin() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.pending++
	return true
}

func (l *Ledger) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending--
	if l.closed && l.pending == 0 {
		close(l.drained)
	}
}

// startClose marks the ledger closed and returns a channel closed once no
// future watcher is left.
func (l *Ledger) startClose() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.drained = make(chan struct{})
	if l.pending == 0 {
		close(l.drained)
	}
	return l.drained
}

func (l *Ledger) waitDrained(drained <-chan struct{}, limit time.Duration) bool {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-drained:
		return true
	case <-t.C:
		return false
	}
}

// snapshot forces a snapshot now (tests).
func (l *Ledger) snapshot() error {
	return l.raft.Snapshot().Error()
}
