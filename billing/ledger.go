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
// command twice.
//
// The signatures a command carries are checked before the write lock is
// taken, so readers do not wait on them (commands are applied one at a
// time, so the registered keys cannot change in between; the checks are
// keyed by the key itself regardless).
func (l *Ledger) Apply(index uint64, cmd []byte) []byte {
	c, err := DecodeCommand(cmd)
	var verified map[string]bool
	if err == nil {
		l.mu.RLock()
		checks := l.state.signatures(c)
		l.mu.RUnlock()
		valid := l.checked.checkAll(checks)
		for i, ch := range checks {
			if valid[i] {
				if verified == nil {
					verified = make(map[string]bool, len(checks))
				}
				verified[sigKey(ch[0], ch[1], ch[2])] = true
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state.verified = verified
	defer func() { l.state.verified = nil }()
	if index != 0 {
		if index <= l.index {
			return fail(refusal(ErrConflict, "log index %d already applied (last %d)", index, l.index)).Encode()
		}
		l.index = index
	}
	if err != nil {
		return fail(refusal(ErrInvalid, "%v", err)).Encode()
	}
	return l.state.Apply(c).Encode()
}

// checkAll checks the signatures (pub, msg, sig) of one command. The
// caller takes them one by one, and a helper goroutine takes them too when
// it gets to run: the apply is one command at a time, and a quote's three
// attestations are its longest step, but on a busy node the helper may
// wait behind every runnable goroutine, so the caller never waits for a
// check the helper has not started (waiting for all three in goroutines
// made 128 concurrent clients slower).
func (c *checkedSet) checkAll(checks [][3][]byte) []bool {
	valid := make([]bool, len(checks))
	var next, finished atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(checks) {
				return
			}
			valid[i] = c.verify(checks[i][0], checks[i][1], checks[i][2])
			finished.Add(1)
		}
	}
	if len(checks) < 2 {
		work()
		return valid
	}
	helped := make(chan struct{})
	go func() {
		defer close(helped)
		work()
	}()
	work()
	if finished.Load() < int64(len(checks)) {
		<-helped // the helper is on the last checks it took
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
	l.mu.Unlock()
	return nil
}

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
