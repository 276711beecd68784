package consensus

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// StateMachine is what the ledger replicates into (billing.Ledger implements
// it). Apply is called from one goroutine in log order with the entry's
// index and command (several commands in a row share an index when the
// leader grouped them into one entry); its result is returned to the
// [Ledger.Apply] caller on the node that proposed the command. Snapshot writes the whole state (it is
// called between two Applies, never concurrently with one) and Restore
// replaces the whole state with a snapshot's.
type StateMachine interface {
	Apply(index uint64, cmd []byte) []byte
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// BatchStateMachine is a StateMachine that takes the commands raft hands
// over together (the entries committed in one go) in one call, so it can
// prepare them together (billing checks all their signatures in one batch
// verification) before it applies them one after another in log order.
// Its results must be exactly those of calling Apply on each in turn.
//
// The commands of one group entry (the leader's group commit) share the
// entry's index: Apply and ApplyBatch see an index repeated for them, one
// after another, and never split across two calls of ApplyBatch.
type BatchStateMachine interface {
	StateMachine
	ApplyBatch(indexes []uint64, cmds [][]byte) [][]byte
}

// QuietStateMachine is a BatchStateMachine that can apply commands
// without working out their results. Only the node whose grouper appended
// an entry reads what its commands answered (the leader answers the
// commands forwarded to it with its own results), so every other member
// throws its results away; the FSM has such a member apply with
// ApplyQuiet, which must change the state exactly as ApplyBatch does.
type QuietStateMachine interface {
	BatchStateMachine
	ApplyQuiet(indexes []uint64, cmds [][]byte)
}

// IndexedStateMachine is a StateMachine that knows the index of the last
// command it applied, also once it has restored a snapshot (billing's
// snapshots carry it). The ledger then knows exactly what its state
// reflects after a restore too (see [Ledger.WaitApplied]).
type IndexedStateMachine interface {
	StateMachine
	Index() uint64
}

// fsm adapts a StateMachine to raft.BatchingFSM. It also records the index
// of the last entry it has applied. raft's own applied index runs ahead of
// it: raft moves it as it queues entries to the FSM, before they apply.
type fsm struct {
	sm      StateMachine
	applied atomic.Uint64
	// committed, when set, hears each configuration entry (its index and
	// configuration) as it applies: committed, in log order.
	committed func(uint64, raft.Configuration)
	// onApply, when set, is called after each batch applies.
	onApply func()
	// awaited, when set, counts the entries this node appended whose
	// results a caller still waits for; while it is 0 a QuietStateMachine
	// applies quietly. An entry's count is taken before it is appended and
	// given back after its result is read, so it covers the entry's apply.
	// Nil: results are always worked out.
	awaited *atomic.Int64
	// log hears of entries that do not decode; nil discards.
	log *slog.Logger
}

// raft hands every committed command and configuration entry to
// ApplyBatch (Apply only when an FSM does not batch).
var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies the commands among logs (raft sends commands and
// configuration entries; the state machine has nothing to do with the
// latter) and answers each command entry with its result ([]byte), each
// group entry with its commands' results ([][]byte), the others with nil;
// when no caller here waits for a result it may answer nil for all (see
// QuietStateMachine).
// A group that does not decode (written by no version of this package)
// answers an error and applies nothing, on every member alike: its bytes
// are what the leader appended (the log store's checksum tells bytes this
// member's disk damaged, which stop it; see damage.go), so refusing it is
// deterministic, and a dishonest leader cannot stop the group with it. It
// is not skipped without a word: the member logs it, naming the index.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if len(logs) == 0 {
		return out
	}
	defer f.applied.Store(logs[len(logs)-1].Index)
	if f.onApply != nil {
		defer f.onApply()
	}
	type span struct{ at, start, end int }
	var (
		spans   []span
		indexes []uint64
		cmds    [][]byte
	)
	for i, l := range logs {
		switch {
		case isGroup(l):
			group, err := decodeGroup(l.Data)
			if err != nil {
				if f.log != nil {
					f.log.Error("a log entry does not decode: refused on every member alike", "index", l.Index, "bytes", len(l.Data), "err", err)
				}
				out[i] = fmt.Errorf("entry %d: %w", l.Index, err)
				continue
			}
			spans = append(spans, span{i, len(cmds), len(cmds) + len(group)})
			for _, c := range group {
				indexes = append(indexes, l.Index)
				cmds = append(cmds, c)
			}
		case l.Type == raft.LogConfiguration:
			if f.committed != nil {
				f.committed(l.Index, raft.DecodeConfiguration(l.Data))
			}
		case l.Type == raft.LogCommand:
			spans = append(spans, span{i, len(cmds), -1})
			indexes = append(indexes, l.Index)
			cmds = append(cmds, l.Data)
		}
	}
	if len(cmds) == 0 {
		return out
	}
	if q, ok := f.sm.(QuietStateMachine); ok && f.awaited != nil && f.awaited.Load() == 0 {
		q.ApplyQuiet(indexes, cmds)
		return out // no one reads the commands' results here
	}
	var res [][]byte
	b, batching := f.sm.(BatchStateMachine)
	switch {
	case batching && len(cmds) > 1:
		res = b.ApplyBatch(indexes, cmds)
	default:
		res = make([][]byte, len(cmds))
		for j := range cmds {
			res[j] = f.sm.Apply(indexes[j], cmds[j])
		}
	}
	for _, s := range spans {
		if s.end < 0 {
			out[s.at] = res[s.start]
		} else {
			out[s.at] = res[s.start:s.end:s.end]
		}
	}
	return out
}

// Snapshot captures the state machine into memory. Raft calls it on its FSM
// goroutine, serialized with Apply, so the captured state is consistent;
// Persist then writes the buffer out while Applies continue.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	var buf bytes.Buffer
	if err := f.sm.Snapshot(&buf); err != nil {
		return nil, fmt.Errorf("snapshot state machine: %w", err)
	}
	return &fsmSnapshot{data: buf.Bytes()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.sm.Restore(rc); err != nil {
		return fmt.Errorf("restore state machine: %w", err)
	}
	if sm, ok := f.sm.(IndexedStateMachine); ok {
		f.applied.Store(sm.Index())
	}
	return nil
}

type fsmSnapshot struct {
	data []byte
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close snapshot: %w", err)
	}
	return nil
}

func (s *fsmSnapshot) Release() {}
