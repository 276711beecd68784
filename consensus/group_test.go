package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestGroupCodec(t *testing.T) {
	for _, cmds := range [][][]byte{
		{[]byte("a"), []byte("bc")},
		{{}, []byte("x"), {}},
		{bytes.Repeat([]byte("z"), 300), []byte("{}"), []byte("q")},
	} {
		got, err := decodeGroup(encodeGroup(cmds))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(cmds) {
			t.Fatalf("%d commands back, want %d", len(got), len(cmds))
		}
		for i := range cmds {
			if !bytes.Equal(got[i], cmds[i]) {
				t.Fatalf("command %d: %q, want %q", i, got[i], cmds[i])
			}
		}
	}
	good := encodeGroup([][]byte{[]byte("ab"), []byte("c")})
	for name, b := range map[string][]byte{
		"empty":       nil,
		"no commands": {0},
		"truncated":   good[:len(good)-1],
		"trailing":    append(append([]byte{}, good...), 0),
		"count past":  {200, 1, 1, 'a'},
		"length past": {1, 9, 'a'},
		"long count":  {0x82, 0x00, 1, 'a', 1, 'b'},
	} {
		if _, err := decodeGroup(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// take stops at maxGroup commands and at maxGroupBytes, but a command
// larger than that goes alone.
func TestGrouperTake(t *testing.T) {
	var g grouper
	for range maxGroup + 5 {
		g.queue = append(g.queue, &groupReq{cmd: []byte("c")})
	}
	if n := len(g.take()); n != maxGroup {
		t.Fatalf("took %d, want %d", n, maxGroup)
	}
	if n := len(g.take()); n != 5 || g.queue != nil {
		t.Fatalf("took %d (queue %d), want 5 and an empty queue", n, len(g.queue))
	}
	big := make([]byte, maxGroupBytes)
	g.queue = []*groupReq{{cmd: big}, {cmd: []byte("a")}, {cmd: []byte("b")}, {cmd: big}}
	for i, want := range []int{1, 2, 1} {
		if n := len(g.take()); n != want {
			t.Fatalf("take %d: %d commands, want %d", i, n, want)
		}
	}
}

// A command whose caller stopped waiting before the grouper took it is
// dropped; a full queue refuses more.
func TestGrouperDropsAndBounds(t *testing.T) {
	var g grouper
	g.inFlight = maxInFlight
	var reqs []*groupReq
	for _, c := range []string{"a", "b", "c", "d"} {
		r, batch, err := g.enqueue([]byte(c))
		if err != nil || batch != nil {
			t.Fatalf("enqueue %s: %v, %v", c, batch, err)
		}
		reqs = append(reqs, r)
	}
	reqs[0].gone.Store(true)
	reqs[2].gone.Store(true)
	if b := g.next(); len(b) != 2 || string(b[0].cmd) != "b" || string(b[1].cmd) != "d" {
		t.Fatalf("next took %d commands, want b and d", len(b))
	}
	r, _, _ := g.enqueue([]byte("e"))
	r.gone.Store(true)
	if b := g.next(); b != nil || g.inFlight != maxInFlight-1 {
		t.Fatalf("only a gone command waiting: next %v, %d in flight", b, g.inFlight)
	}
	g.inFlight = maxInFlight
	for range maxQueued {
		if _, _, err := g.enqueue([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := g.enqueue([]byte("y")); !errors.Is(err, errQueueFull) {
		t.Fatalf("enqueue on a full queue: %v", err)
	}
}

// A caller that gives up while its command waits behind the entries in
// flight: the command is never applied.
func TestGroupCallerGone(t *testing.T) {
	sm := newAppendLog()
	l := openLedger(t, testConfig(t.TempDir(), newHost(t)), sm)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := l.Apply(t.Context(), []byte("block")); err != nil {
			t.Errorf("block: %v", err)
		}
	})
	<-sm.entered
	// Second in flight, behind the blocked state machine.
	wg.Go(func() {
		if _, err := l.Apply(t.Context(), []byte("second")); err != nil {
			t.Errorf("second: %v", err)
		}
	})
	waitFor(t, 5*time.Second, "two entries in flight", func() bool {
		l.group.mu.Lock()
		defer l.group.mu.Unlock()
		return l.group.inFlight == maxInFlight && len(l.group.queue) == 0
	})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Apply(ctx, []byte("abandoned")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("abandoned: %v", err)
	}
	close(sm.gate)
	wg.Wait()
	if _, err := l.Apply(t.Context(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := sm.cmds(); !slices.Equal(got, []string{"block", "second", "after"}) {
		t.Fatalf("applied %v", got)
	}
}

// The FSM applies a group's commands in order with the entry's index and
// answers the entry with their results; a group that does not decode is
// answered with an error and applies nothing.
func TestFSMApplyGroup(t *testing.T) {
	for _, batching := range []bool{false, true} {
		al := newAppendLog()
		f := &fsm{sm: al}
		if batching {
			f.sm = &batchLog{appendLog: al}
		}
		out := f.ApplyBatch([]*raft.Log{
			{Index: 5, Type: raft.LogCommand, Data: []byte("a")},
			{Index: 6, Type: raft.LogCommand, Extensions: groupExt, Data: encodeGroup([][]byte{[]byte("b"), []byte("c")})},
			{Index: 7, Type: raft.LogCommand, Extensions: groupExt, Data: []byte{7}},
			{Index: 8, Type: raft.LogCommand, Data: []byte("d")},
		})
		if string(out[0].([]byte)) != "1:a" || string(out[3].([]byte)) != "4:d" {
			t.Fatalf("batching %v: lone results %v", batching, out)
		}
		g, ok := out[1].([][]byte)
		if !ok || len(g) != 2 || string(g[0]) != "2:b" || string(g[1]) != "3:c" {
			t.Fatalf("batching %v: group result %v", batching, out[1])
		}
		if _, ok := out[2].(error); !ok {
			t.Fatalf("batching %v: a bad group answered %v", batching, out[2])
		}
		entries, _ := al.snapshotOf()
		if fmt.Sprint(entries) != "[{5 a} {6 b} {6 c} {8 d}]" {
			t.Fatalf("batching %v: applied %v", batching, entries)
		}
	}
}

// Many concurrent applies at the leader go into fewer entries, each
// caller gets its own command's result, and every member applies the same
// commands in the same order.
func TestGroupCommit(t *testing.T) {
	ms := group(t, 3, nil)
	leader := leaderOf(t, ms...)
	const callers, each = 32, 8
	applyConcurrently(t, ms, callers, each, func(c, i int) string { return fmt.Sprintf("c%d-%d", c, i) })
	got := converge(t, ms...)
	if len(got) != callers*each {
		t.Fatalf("%d commands applied, want %d", len(got), callers*each)
	}
	indexes := map[uint64]bool{}
	for _, e := range got {
		indexes[e.Index] = true
	}
	if len(indexes) >= len(got) {
		t.Errorf("no group formed: %d commands in %d entries", len(got), len(indexes))
	}
	t.Logf("%d commands in %d entries (leader %s)", len(got), len(indexes), leader.id)

	// A member restarted with a fresh state machine replays the groups
	// from its log into the same commands.
	restartFollower(leader, ms...)
	if again := converge(t, ms...); !slices.Equal(again, got) {
		t.Fatal("the restarted member applied other commands")
	}
}

// applyConcurrently applies callers × each commands, the callers at once,
// caller c through ms[c%len(ms)] (most forwarded, some on the leader),
// its i-th command named name(c, i); each must be answered its own result
// (appendLog's "<count>:<cmd>").
func applyConcurrently(t *testing.T, ms []*member, callers, each int, name func(c, i int) string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for c := range callers {
		from := ms[c%len(ms)]
		wg.Go(func() {
			for i := range each {
				cmd := name(c, i)
				res, err := from.l().Apply(t.Context(), []byte(cmd))
				if err != nil {
					errs <- err
					return
				}
				if _, got, _ := strings.Cut(string(res), ":"); got != cmd {
					errs <- fmt.Errorf("%s answered %q", cmd, res)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A group's Data either fails to decode or decodes into commands that
// encode back to the same bytes: one encoding for one list.
func FuzzDecodeGroup(f *testing.F) {
	f.Add(encodeGroup([][]byte{[]byte("a"), []byte("bc")}))
	f.Add(encodeGroup([][]byte{{}, {}}))
	f.Add([]byte{1, 0})
	f.Add([]byte{200, 1, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, err := decodeGroup(b)
		if err != nil {
			return
		}
		if again := encodeGroup(cmds); !bytes.Equal(again, b) {
			t.Fatalf("%x decodes into %d commands that encode as %x", b, len(cmds), again)
		}
	})
}
