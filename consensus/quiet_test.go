package consensus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
)

// quietLog is a QuietStateMachine over an appendLog: it counts the
// commands it applied quietly.
type quietLog struct {
	batchLog

	mu    sync.Mutex
	quiet int // commands applied with ApplyQuiet
}

func (q *quietLog) ApplyQuiet(indexes []uint64, cmds [][]byte) {
	q.mu.Lock()
	q.quiet += len(cmds)
	q.mu.Unlock()
	q.ApplyBatch(indexes, cmds)
}

func (q *quietLog) quietly() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.quiet
}

// With a count of awaited entries, the FSM applies the commands quietly
// and answers nil while it is 0, and as before while it is not; entries
// whose extensions it does not know are single commands (a leader's
// additions are not taken), a group that does not decode answers an error.
func TestFSMApplyQuiet(t *testing.T) {
	al := newAppendLog()
	q := &quietLog{batchLog: batchLog{appendLog: al}}
	f := &fsm{sm: q, awaited: new(atomic.Int64)}
	out := f.ApplyBatch([]*raft.Log{
		{Index: 5, Type: raft.LogCommand, Data: []byte("a")},
		{Index: 6, Type: raft.LogCommand, Extensions: groupExt, Data: encodeGroup([][]byte{[]byte("b"), []byte("c")})},
	})
	if out[0] != nil || out[1] != nil || q.quietly() != 3 {
		t.Fatalf("nothing awaited: answered %v, %d applied quietly", out, q.quietly())
	}
	f.awaited.Add(1)
	out = f.ApplyBatch([]*raft.Log{
		{Index: 7, Type: raft.LogCommand, Data: []byte("d")},
		{Index: 8, Type: raft.LogCommand, Extensions: []byte("dds-vouched-group-v1\nxxxx"), Data: []byte("e")},
		{Index: 9, Type: raft.LogCommand, Extensions: groupExt, Data: []byte{9}},
	})
	if string(out[0].([]byte)) != "4:d" || string(out[1].([]byte)) != "5:e" || q.quietly() != 3 {
		t.Fatalf("an entry awaited: answered %v, %d applied quietly", out, q.quietly())
	}
	if _, ok := out[2].(error); !ok {
		t.Fatalf("a bad group answered %v", out[2])
	}
	entries, _ := al.snapshotOf()
	if fmt.Sprint(entries) != "[{5 a} {6 b} {6 c} {7 d} {8 e}]" {
		t.Fatalf("applied %v", entries)
	}
}

// Only the leader's callers read results: the other members apply every
// entry quietly, and all hold the same commands.
func TestQuietMembers(t *testing.T) {
	ms := make([]*member, 3)
	for i := range ms {
		ms[i] = newMember(t, nil)
		ms[i].quiet = true
	}
	startGroup(ms)
	leader := leaderOf(t, ms...)
	term := leader.l().raft.CurrentTerm()
	applyConcurrently(t, ms, 12, 6, func(c, i int) string { return fmt.Sprintf("c%d-%d", c, i) })
	converge(t, ms...)
	if leader.l().raft.CurrentTerm() != term || !leader.l().IsLeader() {
		t.Skip("a new election (rare under the default timing): the leader's part is not one member's")
	}
	for _, m := range ms {
		if q := m.ql.quietly(); (q == 0) != (m == leader) {
			t.Fatalf("member %s (leader %v) applied %d commands quietly", m.id, m == leader, q)
		}
	}
}
