package consensus

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

// batchLog is an appendLog that also takes batches, recording each.
type batchLog struct {
	*appendLog
	batches [][]uint64
}

func (b *batchLog) ApplyBatch(indexes []uint64, cmds [][]byte) [][]byte {
	b.batches = append(b.batches, indexes)
	out := make([][]byte, len(cmds))
	for i := range cmds {
		out[i] = b.Apply(indexes[i], cmds[i])
	}
	return out
}

// The FSM hands raft's batches to the state machine: commands only, in
// order, a batch state machine in one call (a lone command through Apply),
// the results at their entries' places and nil for configuration entries,
// and the applied index at the batch's last entry.
func TestFSMApplyBatch(t *testing.T) {
	logs := func(types ...raft.LogType) []*raft.Log {
		var out []*raft.Log
		for i, ty := range types {
			out = append(out, &raft.Log{Index: uint64(10 + i), Type: ty, Data: fmt.Appendf(nil, "c%d", 10+i)})
		}
		return out
	}
	cmd, cfg := raft.LogCommand, raft.LogConfiguration
	for _, batching := range []bool{false, true} {
		al := newAppendLog()
		bl := &batchLog{appendLog: al}
		f := &fsm{sm: al}
		if batching {
			f.sm = bl
		}
		out := f.ApplyBatch(logs(cmd, cfg, cmd, cmd))
		want := []any{[]byte("1:c10"), nil, []byte("2:c12"), []byte("3:c13")}
		if len(out) != len(want) {
			t.Fatalf("batching %v: %d results for 4 entries", batching, len(out))
		}
		for i := range want {
			if fmt.Sprint(out[i]) != fmt.Sprint(want[i]) {
				t.Fatalf("batching %v: result %d = %v, want %v", batching, i, out[i], want[i])
			}
		}
		if got := f.applied.Load(); got != 13 {
			t.Fatalf("batching %v: applied index %d, want 13", batching, got)
		}
		if batching && (len(bl.batches) != 1 || fmt.Sprint(bl.batches[0]) != "[10 12 13]") {
			t.Fatalf("batches %v, want one of [10 12 13]", bl.batches)
		}

		// Configuration entries alone, then one command.
		f.ApplyBatch([]*raft.Log{{Index: 20, Type: cfg}})
		if f.applied.Load() != 20 {
			t.Fatalf("batching %v: a configuration entry not recorded as applied", batching)
		}
		out = f.ApplyBatch([]*raft.Log{{Index: 21, Type: cmd, Data: []byte("x")}})
		if fmt.Sprint(out[0]) != fmt.Sprint([]byte("4:x")) || f.applied.Load() != 21 {
			t.Fatalf("batching %v: lone command %v, applied %d", batching, out[0], f.applied.Load())
		}
		if batching && len(bl.batches) != 1 {
			t.Fatalf("a lone command went through ApplyBatch")
		}
		if len(f.ApplyBatch(nil)) != 0 {
			t.Fatal("results for no entries")
		}
	}
}

// A restored snapshot sets the applied index to the state machine's own
// (its snapshot's), not the one the FSM had before.
func TestFSMRestoreSetsAppliedIndex(t *testing.T) {
	src := &fsm{sm: newAppendLog()}
	src.ApplyBatch([]*raft.Log{{Index: 7, Type: raft.LogCommand, Data: []byte("a")}, {Index: 9, Type: raft.LogCommand, Data: []byte("b")}})
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	data := snap.(*fsmSnapshot).data
	dst := &fsm{sm: newAppendLog()}
	dst.applied.Store(3)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if got := dst.applied.Load(); got != 9 {
		t.Fatalf("applied index %d after restoring a snapshot at 9", got)
	}
}
