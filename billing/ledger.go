package billing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// ledgerMagic opens a Ledger snapshot, followed by the 8-byte big-endian
// index of the last applied command and the State snapshot.
const ledgerMagic = "dds-ledger-v1\n"

// Ledger is a State made safe for concurrent use: the consensus layer applies
// commands through Apply while HTTP handlers read through Read. It is the
// state machine that package consensus replicates.
type Ledger struct {
	mu      sync.RWMutex
	state   *State
	index   uint64
	checked checkedSet // signatures this node has seen valid

	// membership counts the changes to who is a member (Init, Admit,
	// Remove, Restore), so that readers on a hot path keep their own view
	// and take the lock only when it moved.
	membership atomic.Uint64
}

// NewLedger returns a ledger holding an empty State.
func NewLedger() *Ledger {
	return &Ledger{state: NewState()}
}

// Apply decodes and applies the command at the given log index and returns
// the encoded Result. A command that does not decode gives a Result with an
// ErrInvalid refusal. An index at or below the last applied one (other than
// 0, which is not tracked) was applied already and is refused with
// ErrConflict without effect, so a replay after a snapshot never applies a
// command twice. (The commands of a group entry, which share its index,
// come through ApplyBatch together.)
func (l *Ledger) Apply(index uint64, cmd []byte) []byte {
	return l.ApplyBatch([]uint64{index}, [][]byte{cmd})[0]
}

// ApplyBatch applies commands in order, as Apply on each would, and returns
// their results: the consensus layer hands over the entries committed
// together. The signatures they carry (each command's proposer's, a
// quote's attestations, a hold's receipts) are checked first, all together
// and before the write lock is taken, so readers do not wait on them: a
// batch verification costs less per signature the more it holds. The keys
// are those registered before the batch; a command that needs a key a
// Register earlier in the same batch adds is checked when it is applied
// (the checks are keyed by the key itself, so a check made with another
// key is never taken for it).
//
// Every replica checks every signature itself: what the leader appended
// is no evidence that anyone signed it (a leader may lie; raft tolerates
// crashes, not lies). Only signatures this node checked or made itself
// before are skipped (see checkedSet).
func (l *Ledger) ApplyBatch(indexes []uint64, cmds [][]byte) [][]byte {
	return l.apply(indexes, cmds, true)
}

// ApplyQuiet is ApplyBatch without the results, for a member no caller
// waits on (see consensus.QuietStateMachine): it changes the state alike
// and encodes nothing. Encoding the Results was 6% of a non-voter's CPU
// on a 32-daemon network.
func (l *Ledger) ApplyQuiet(indexes []uint64, cmds [][]byte) {
	l.apply(indexes, cmds, false)
}

// apply applies cmds; it encodes their results only when results is set
// (nil otherwise).
func (l *Ledger) apply(indexes []uint64, cmds [][]byte, results bool) [][]byte {
	decoded, errs := decodeAll(cmds)
	checks := l.signatures(decoded, errs)
	keys := make([][32]byte, len(checks))
	for i, ch := range checks {
		keys[i] = checkedKey(ch[0], ch[1], ch[2])
	}
	var verified map[[32]byte]bool
	for i, ok := range l.checked.checkAll(checks, keys) {
		if ok {
			if verified == nil {
				verified = make(map[[32]byte]bool, len(checks))
			}
			verified[keys[i]] = true
		}
	}

	var out [][]byte
	if results {
		out = make([][]byte, len(cmds))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state.verified = verified
	defer func() { l.state.verified = nil }()
	var entry uint64 // the index of the entry this call is applying
	for i, index := range indexes {
		switch {
		case index == 0: // not tracked
		case index == entry:
			// The next command of the same entry (a group's commands
			// share their entry's index).
		case index <= l.index:
			if results {
				out[i] = fail(refusal(ErrConflict, "log index %d already applied (last %d)", index, l.index)).Encode()
			}
			continue
		default:
			l.index, entry = index, index
		}
		if errs[i] != nil {
			if results {
				out[i] = fail(refusal(ErrInvalid, "%v", errs[i])).Encode()
			}
			continue
		}
		r := l.state.Apply(decoded[i])
		if r.Err == nil && (decoded[i].Init != nil || decoded[i].Admit != nil || decoded[i].Remove != nil) {
			l.membership.Add(1)
		}
		if results {
			out[i] = r.Encode()
		}
	}
	return out
}

// decodeAll decodes each command: errs[i] is cmds[i]'s error, if any.
func decodeAll(cmds [][]byte) (decoded []Command, errs []error) {
	decoded, errs = make([]Command, len(cmds)), make([]error, len(cmds))
	for i, b := range cmds {
		decoded[i], errs[i] = DecodeCommand(b)
	}
	return decoded, errs
}

// signatures lists the signatures (pub, msg, sig) the decoded commands
// carry, those that did not decode (errs) left out, with the keys
// registered now.
func (l *Ledger) signatures(decoded []Command, errs []error) [][3][]byte {
	var checks [][3][]byte
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i := range decoded {
		if errs[i] == nil {
			checks = append(checks, l.state.signatures(decoded[i])...)
		}
	}
	return checks
}

// checkAll checks the signatures (pub, msg, sig) of the commands being
// applied, keys[i] being checks[i]'s checkedKey. Those in the set were
// checked already; the others are checked
// in batch verifications of up to maxBatch, in two parts when there are
// enough for both to gain: the caller takes parts one by one, and a
// helper goroutine takes parts too when it gets to run. On a busy node
// the helper may wait behind every runnable goroutine, so the caller
// never waits for a part the helper has not started (waiting for
// goroutines made 128 concurrent clients slower).
func (c *checkedSet) checkAll(checks [][3][]byte, keys [][32]byte) []bool {
	valid := make([]bool, len(checks))
	var todo []int
	for i := range checks {
		if c.has(keys[i]) {
			valid[i] = true
		} else {
			todo = append(todo, i)
		}
	}
	size := len(todo)
	if size >= 2*minSplit {
		size = (size + 1) / 2
	}
	size = max(1, min(size, maxBatch))
	parts := (len(todo) + size - 1) / size
	var next, finished atomic.Int64
	work := func() {
		for {
			p := int(next.Add(1)) - 1
			if p >= parts {
				return
			}
			part := todo[p*size : min((p+1)*size, len(todo))]
			batch := make([][3][]byte, len(part))
			for j, i := range part {
				batch[j] = checks[i]
			}
			for j, ok := range verifyBatch(batch) {
				valid[part[j]] = ok
			}
			finished.Add(1)
		}
	}
	if parts < 2 {
		work()
		return valid
	}
	helped := make(chan struct{})
	go func() {
		defer close(helped)
		work()
	}()
	work()
	if finished.Load() < int64(parts) {
		<-helped // the helper is on the last part it took
	}
	return valid
}

// Snapshot writes the ledger (state and last applied index) to w. The state
// is copied under the lock; writing happens after it is released.
func (l *Ledger) Snapshot(w io.Writer) error {
	l.mu.RLock()
	b, err := l.state.encode()
	index := l.index
	l.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("ledger snapshot: %w", err)
	}
	head := binary.BigEndian.AppendUint64([]byte(ledgerMagic), index)
	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("ledger snapshot: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("ledger snapshot: %w", err)
	}
	return nil
}

// Restore replaces the ledger with one written by Snapshot. On error the
// ledger is unchanged.
func (l *Ledger) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("ledger restore: %w", err)
	}
	if len(b) < len(ledgerMagic)+8 || !bytes.HasPrefix(b, []byte(ledgerMagic)) {
		return errors.New("ledger restore: not a ledger snapshot")
	}
	index := binary.BigEndian.Uint64(b[len(ledgerMagic):])
	s, err := ReadSnapshot(bytes.NewReader(b[len(ledgerMagic)+8:]))
	if err != nil {
		return fmt.Errorf("ledger restore: %w", err)
	}
	l.mu.Lock()
	l.state, l.index = s, index
	l.membership.Add(1)
	l.mu.Unlock()
	return nil
}

// MembershipVersion changes whenever the ledger's members may have: a
// reader that keeps its own view of them (State.Members, State.Removed)
// reads them again only when it moved.
func (l *Ledger) MembershipVersion() uint64 { return l.membership.Load() }

// Index returns the log index of the last applied command.
func (l *Ledger) Index() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.index
}

// Read runs fn with the state under a read lock. fn must not modify s nor
// keep it after returning; the State's read methods return copies.
func (l *Ledger) Read(fn func(s *State)) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	fn(l.state)
}
