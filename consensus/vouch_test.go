package consensus

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
)

// vouchLog is a VouchingStateMachine over an appendLog. Its Vouch returns
// "<member id>:<the commands joined by +>", or nil when the first command
// starts with "plain"; it records the vouch each command applied with.
type vouchLog struct {
	batchLog
	id string

	mu     sync.Mutex
	vouchs int               // Vouch calls
	got    map[string]string // command -> the vouch it applied with
	quiet  int               // commands applied with ApplyQuiet
}

func (v *vouchLog) Vouch(cmds [][]byte) []byte {
	v.mu.Lock()
	v.vouchs++
	v.mu.Unlock()
	if bytes.HasPrefix(cmds[0], []byte("plain")) {
		return nil
	}
	return fmt.Appendf(nil, "%s:%s", v.id, bytes.Join(cmds, []byte("+")))
}

func (v *vouchLog) ApplyVouched(indexes []uint64, cmds, vouches [][]byte) [][]byte {
	v.mu.Lock()
	for i, c := range cmds {
		v.got[string(c)] = string(vouches[i])
	}
	v.mu.Unlock()
	return v.ApplyBatch(indexes, cmds)
}

func (v *vouchLog) ApplyQuiet(indexes []uint64, cmds, vouches [][]byte) {
	v.mu.Lock()
	v.quiet += len(cmds)
	v.mu.Unlock()
	v.ApplyVouched(indexes, cmds, vouches)
}

func (v *vouchLog) quietly() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.quiet
}

func (v *vouchLog) record() (map[string]string, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.got), v.vouchs
}

// The FSM hands a vouched entry's commands to ApplyVouched with the
// entry's vouch (a lone command's results as a group's), the other
// commands of the same batch with none; a batch without a vouched entry
// goes through ApplyBatch (a lone command through Apply) as before; a
// vouched entry that does not decode answers an error.
func TestFSMApplyVouched(t *testing.T) {
	al := newAppendLog()
	v := &vouchLog{batchLog: batchLog{appendLog: al}, got: map[string]string{}}
	f := &fsm{sm: v}
	ext := func(s string) []byte { return append(bytes.Clone(vouchedExt), s...) }
	out := f.ApplyBatch([]*raft.Log{
		{Index: 5, Type: raft.LogCommand, Data: []byte("a")},
		{Index: 6, Type: raft.LogCommand, Extensions: ext("v1"), Data: encodeGroup([][]byte{[]byte("b")})},
		{Index: 7, Type: raft.LogCommand, Extensions: ext("v2"), Data: encodeGroup([][]byte{[]byte("c"), []byte("d")})},
		{Index: 8, Type: raft.LogCommand, Extensions: groupExt, Data: encodeGroup([][]byte{[]byte("e"), []byte("f")})},
		{Index: 9, Type: raft.LogCommand, Extensions: ext("v3"), Data: []byte{9}},
	})
	if string(out[0].([]byte)) != "1:a" {
		t.Fatalf("lone result %v", out[0])
	}
	if g, ok := out[1].([][]byte); !ok || len(g) != 1 || string(g[0]) != "2:b" {
		t.Fatalf("vouched lone command's result %v", out[1])
	}
	if g, ok := out[2].([][]byte); !ok || len(g) != 2 || string(g[1]) != "4:d" {
		t.Fatalf("vouched group's result %v", out[2])
	}
	if _, ok := out[4].(error); !ok {
		t.Fatalf("a bad vouched group answered %v", out[4])
	}
	got, _ := v.record()
	want := map[string]string{"a": "", "b": "v1", "c": "v2", "d": "v2", "e": "", "f": ""}
	if !maps.Equal(got, want) {
		t.Fatalf("vouches %v, want %v", got, want)
	}
	entries, _ := al.snapshotOf()
	if fmt.Sprint(entries) != "[{5 a} {6 b} {7 c} {7 d} {8 e} {8 f}]" {
		t.Fatalf("applied %v", entries)
	}

	before := len(v.batches)
	f.ApplyBatch([]*raft.Log{{Index: 10, Type: raft.LogCommand, Data: []byte("g")}, {Index: 11, Type: raft.LogCommand, Extensions: groupExt, Data: encodeGroup([][]byte{[]byte("h"), []byte("i")})}})
	if got, _ := v.record(); len(got) != len(want) || len(v.batches) != before+1 {
		t.Fatal("a batch without a vouched entry did not go through ApplyBatch")
	}
	// With a count of awaited entries: while it is 0 the commands apply
	// quietly and answer nil; while it is not, as before.
	f.awaited = new(atomic.Int64)
	out = f.ApplyBatch([]*raft.Log{{Index: 12, Type: raft.LogCommand, Data: []byte("j")}, {Index: 13, Type: raft.LogCommand, Extensions: ext("v4"), Data: encodeGroup([][]byte{[]byte("k")})}})
	if out[0] != nil || out[1] != nil || v.quietly() != 2 {
		t.Fatalf("nothing awaited: answered %v, %d applied quietly", out, v.quietly())
	}
	f.awaited.Add(1)
	if out = f.ApplyBatch([]*raft.Log{{Index: 14, Type: raft.LogCommand, Data: []byte("l")}}); string(out[0].([]byte)) != "12:l" || v.quietly() != 2 {
		t.Fatalf("an entry awaited: answered %v, %d applied quietly", out[0], v.quietly())
	}
	if got, _ := v.record(); got["k"] != "v4" {
		t.Fatalf("applied quietly with vouch %q, want v4", got["k"])
	}
}

// Only the leader vouches, for its own commands and those forwarded to it;
// every member applies each command with the leader's vouch, also when it
// replays its log after a restart; an entry the leader had nothing to
// vouch for is a plain one.
func TestVouchedEntries(t *testing.T) {
	ms := make([]*member, 3)
	for i := range ms {
		ms[i] = newMember(t, nil)
		ms[i].vouching = true
	}
	startGroup(ms)
	leader := leaderOf(t, ms...)
	term := leader.l().raft.CurrentTerm()
	ids := map[string]bool{}
	for _, m := range ms {
		ids[m.id] = true
	}
	// One entry alone of each kind, then many grouped.
	for _, cmd := range []string{"plain-alone", "vouched-alone"} {
		if _, err := ms[0].l().Apply(t.Context(), []byte(cmd)); err != nil {
			t.Fatal(err)
		}
	}
	applyConcurrently(t, ms, 12, 6, func(c, i int) string {
		if c%4 == 3 && i%2 == 0 {
			return fmt.Sprintf("plainc%d-%d", c, i)
		}
		return fmt.Sprintf("c%d-%d", c, i)
	})
	entries := converge(t, ms...)

	// The entries, as the commands that share an index; the leader's
	// vouch names them all, or none when the first is plain.
	var byEntry [][]string
	for i, e := range entries {
		if i == 0 || e.Index != entries[i-1].Index {
			byEntry = append(byEntry, nil)
		}
		byEntry[len(byEntry)-1] = append(byEntry[len(byEntry)-1], e.Cmd)
	}
	// A new election (rare: the test runs under the default timing)
	// makes another member the leader of some entries.
	reelected := func() bool { return leader.l().raft.CurrentTerm() != term || !leader.l().IsLeader() }
	check := func(m *member) {
		t.Helper()
		got, _ := m.vl.record()
		var vouched int
		for _, cmds := range byEntry {
			want := leader.id + ":" + strings.Join(cmds, "+")
			if strings.HasPrefix(cmds[0], "plain") {
				want = ""
			} else {
				vouched++
			}
			for _, c := range cmds {
				if id, _, _ := strings.Cut(got[c], ":"); got[c] != want && !(reelected() && ids[id] && strings.TrimPrefix(got[c], id) == strings.TrimPrefix(want, leader.id)) {
					t.Fatalf("member %s applied %s with vouch %q, want %q", m.id, c, got[c], want)
				}
			}
		}
		if vouched < 2 || vouched == len(byEntry) {
			t.Fatalf("%d of %d entries vouched: the test does not test what it should", vouched, len(byEntry))
		}
	}
	// Only the leader's callers read results: the others apply quietly.
	for _, m := range ms {
		check(m)
		if _, n := m.vl.record(); (n > 0) != (m == leader) && !reelected() {
			t.Fatalf("member %s (leader %v) vouched %d times", m.id, m == leader, n)
		}
		if q := m.vl.quietly(); (q == 0) != (m == leader) && !reelected() {
			t.Fatalf("member %s (leader %v) applied %d commands quietly", m.id, m == leader, q)
		}
	}

	follower := restartFollower(leader, ms...)
	converge(t, ms...)
	check(follower)
}
