package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Group commit on the leader. Every log entry costs each member a synced
// write of its log (hashicorp/raft writes the leader's before it sends the
// entry on), and raft gathers into one write only the commands waiting at
// the moment its leader loop looks. The leader's applies therefore go
// through a grouper: at most maxInFlight entries of this node's commands
// are in the log and not yet applied at a time; the commands that arrive
// meanwhile wait, and go together as one entry (a group) when one of those
// is applied. A lone command goes as it is, at once, when fewer are in
// flight: no wait at light load, fewer and larger syncs at heavy load.
//
// A group is a LogCommand entry whose Extensions are groupExt and whose
// Data lists the commands, each a uvarint length then its bytes. The state
// machine applies them in order, each with the entry's index (see
// [BatchStateMachine]); the leader answers each its own result.
const (
	maxInFlight = 2
	// maxGroup and maxGroupBytes bound one group.
	maxGroup      = 128
	maxGroupBytes = 4 << 20
	// maxQueued bounds the commands waiting: past it the leader answers
	// at once that it cannot take more now (ErrTimeout), as raft does when
	// its own queue stays full.
	maxQueued = 4096
)

var groupExt = []byte("dds-group-v1")

var (
	// errBadGroup reports a group entry that does not decode.
	errBadGroup = errors.New("malformed command group")
	// errQueueFull reports a command refused by a full grouper.
	errQueueFull = errors.New("too many commands waiting at the leader")
)

// groupReq is one command waiting for the grouper.
type groupReq struct {
	cmd  []byte
	done chan futureResult // buffered: the grouper never waits on a caller
	gone atomic.Bool       // the caller stopped waiting: drop it unless taken
}

// grouper holds the commands waiting and counts the entries in flight.
type grouper struct {
	mu       sync.Mutex
	queue    []*groupReq
	inFlight int
}

// take removes the next group from the queue: up to maxGroup commands and
// maxGroupBytes (a command alone may be larger). Commands whose callers
// stopped waiting are dropped, never applied.
func (g *grouper) take() []*groupReq {
	var batch []*groupReq
	size, i := 0, 0
	for ; i < len(g.queue) && len(batch) < maxGroup; i++ {
		r := g.queue[i]
		if r.gone.Load() {
			continue
		}
		size += len(r.cmd) + binary.MaxVarintLen64
		if len(batch) > 0 && size > maxGroupBytes {
			break
		}
		batch = append(batch, r)
	}
	g.queue = g.queue[i:]
	if len(g.queue) == 0 {
		g.queue = nil
	}
	return batch
}

// enqueue adds a command and returns its request, and the group this
// caller must start (nil when enough are in flight: a running committer
// takes the command with its next group). A full queue refuses it.
func (g *grouper) enqueue(cmd []byte) (*groupReq, []*groupReq, error) {
	req := &groupReq{cmd: cmd, done: make(chan futureResult, 1)}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) >= maxQueued {
		return nil, nil, errQueueFull
	}
	g.queue = append(g.queue, req)
	if g.inFlight >= maxInFlight {
		return req, nil, nil
	}
	g.inFlight++
	return req, g.take(), nil
}

// next returns the group a committer that finished one goes on with, or
// nil (and one fewer in flight) when none waits.
func (g *grouper) next() []*groupReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.queue) > 0 {
		if batch := g.take(); len(batch) > 0 {
			return batch
		}
	}
	g.inFlight--
	return nil
}

// commitGroups appends batch to the log and answers its commands, then the
// groups that queued meanwhile, until none waits. It runs on a goroutine
// registered with begin (Close waits for it).
func (l *Ledger) commitGroups(batch []*groupReq) {
	defer l.end()
	for ; batch != nil; batch = l.group.next() {
		cmds := make([][]byte, len(batch))
		for i, r := range batch {
			cmds[i] = r.cmd
		}
		l.fsm.awaited.Add(1)
		var f raft.ApplyFuture
		switch {
		case len(batch) == 1:
			f = l.raft.Apply(batch[0].cmd, l.cfg.ApplyTimeout)
		default:
			f = l.raft.ApplyLog(raft.Log{Data: encodeGroup(cmds), Extensions: groupExt}, l.cfg.ApplyTimeout)
		}
		l.trans.appended()
		err := f.Error()
		var resp any
		if err == nil {
			resp = f.Response()
		}
		l.fsm.awaited.Add(-1)
		answerGroup(batch, resp, err)
	}
}

// answerGroup hands each command of a group its result: resp is the
// state machine's answer to the entry ([]byte for a lone command, [][]byte
// for a group).
func answerGroup(batch []*groupReq, resp any, err error) {
	if err != nil {
		for _, r := range batch {
			r.done <- futureResult{err: err}
		}
		return
	}
	if _, grouped := resp.([][]byte); !grouped && len(batch) == 1 {
		batch[0].done <- futureResult{resp: resp}
		return
	}
	out, ok := resp.([][]byte)
	if !ok || len(out) != len(batch) {
		err = errors.New("apply: the state machine answered a group with the wrong number of results")
	}
	for i, r := range batch {
		if err != nil {
			r.done <- futureResult{err: err}
		} else {
			r.done <- futureResult{resp: out[i]}
		}
	}
}

// applyGrouped applies cmd through the grouper and waits for its result
// until ctx ends or the deadline passes: then the command is dropped if it
// is still waiting, and may be applied if it is in the log already.
func (l *Ledger) applyGrouped(ctx context.Context, deadline time.Time, cmd []byte) (any, error) {
	req, batch, err := l.group.enqueue(cmd)
	if err != nil {
		return nil, fmt.Errorf("apply: %w: %w", ErrTimeout, err)
	}
	if batch != nil {
		if l.begin() {
			go l.commitGroups(batch)
		} else {
			// Closed: this caller's group fails, and with the count of
			// entries in flight given back the queue never waits on it.
			answerGroup(batch, nil, raft.ErrRaftShutdown)
			for b := l.group.next(); b != nil; b = l.group.next() {
				answerGroup(b, nil, raft.ErrRaftShutdown)
			}
		}
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case res := <-req.done:
		return res.resp, l.mapError(res.err)
	case <-ctx.Done():
		req.gone.Store(true)
		return nil, ctx.Err()
	case <-timer.C:
		req.gone.Store(true)
		return nil, ErrTimeout
	}
}

// encodeGroup lists cmds as a group's Data.
func encodeGroup(cmds [][]byte) []byte {
	n := binary.MaxVarintLen64
	for _, c := range cmds {
		n += binary.MaxVarintLen64 + len(c)
	}
	b := binary.AppendUvarint(make([]byte, 0, n), uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// decodeGroup splits a group's Data into its commands (sharing b). It
// accepts only what encodeGroup writes (minimal uvarints, nothing after).
func decodeGroup(b []byte) ([][]byte, error) {
	n, k := uvarint(b)
	if k <= 0 || n == 0 || n > uint64(len(b)) {
		return nil, errBadGroup
	}
	b = b[k:]
	cmds := make([][]byte, 0, n)
	for range n {
		size, k := uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, errBadGroup
		}
		cmds = append(cmds, b[k:k+int(size):k+int(size)])
		b = b[k+int(size):]
	}
	if len(b) != 0 {
		return nil, errBadGroup
	}
	return cmds, nil
}

// uvarint is binary.Uvarint refusing (k <= 0) an encoding longer than
// the shortest.
func uvarint(b []byte) (uint64, int) {
	v, k := binary.Uvarint(b)
	if k > 1 && b[k-1] == 0 {
		return 0, -1
	}
	return v, k
}

// isGroup reports whether l is a group entry.
func isGroup(l *raft.Log) bool {
	return l.Type == raft.LogCommand && string(l.Extensions) == string(groupExt)
}
