package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"

	"github.com/ddsnet/dds/p2p"
)

// damageConfig is a one-voter ledger in dir whose log seals a segment every
// 16 KiB, so that entries sit in sealed segments, which raft-wal reads
// back without any check.
func damageConfig(dir string, h *p2p.Host) Config {
	cfg := testConfig(dir, h)
	cfg.SegmentSize = 16 << 10
	return cfg
}

// payload is command i: its index in the text, padded, so that a test
// finds its bytes in a segment file.
func payload(i int) []byte {
	return fmt.Appendf(nil, "cmd-%05d-%s", i, strings.Repeat("x", 200))
}

// writeLedger applies n commands to a new one-voter ledger in dir, closes
// it and returns the log index each command was applied at.
func writeLedger(t *testing.T, dir string, h *p2p.Host, n int) map[string]uint64 {
	t.Helper()
	sm := newAppendLog()
	l := openLedger(t, damageConfig(dir, h), sm)
	for i := range n {
		if _, err := l.Apply(t.Context(), payload(i)); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	at := map[string]uint64{}
	entries, _ := sm.snapshotOf()
	for _, e := range entries {
		at[e.Cmd] = e.Index
	}
	return at
}

// overwrite puts 64 random bytes at off in the segment file holding b
// (the first whose bytes contain it), at b's start plus off; it returns
// the file.
func overwrite(t *testing.T, dir string, b []byte, off int, r *rand.Rand) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, walDir, "*.wal"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("segments %v (%v): want several", segs, err)
	}
	for _, seg := range segs {
		data, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		at := bytes.Index(data, b)
		if at < 0 {
			continue
		}
		junk := make([]byte, 64)
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		copy(data[at+off:], junk)
		if err := os.WriteFile(seg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return seg
	}
	t.Fatalf("no segment holds %q", b)
	return ""
}

// A stopped member whose log was damaged in the middle (64 random bytes
// over an entry of a sealed segment, or over whatever lies at a random
// place there: frame headers, the segment's index) does not start: Open
// refuses, naming the entry and the log's directory, and applies nothing.
// Before, raft-wal read the entry back unchecked, the state machine
// refused its bytes as a command that does not decode, and the member
// served a ledger without it.
func TestDamagedLogRefusesToStart(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 3))
	for _, tc := range []struct {
		name string
		off  func() int // where the junk goes, from the start of entry 100's payload
	}{
		{"payload", func() int { return 10 + r.IntN(100) }},
		{"anywhere", func() int { return -2000 + r.IntN(4000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, h := t.TempDir(), newHost(t)
			at := writeLedger(t, dir, h, 300)
			overwrite(t, dir, payload(100), tc.off(), r)

			sm := newAppendLog()
			l, err := Open(damageConfig(dir, h), sm)
			if err == nil {
				l.Close()
				t.Fatal("a member with a damaged log started")
			}
			var d *DamageError
			if !errors.Is(err, ErrDamaged) || !errors.As(err, &d) {
				t.Fatalf("open: %v, want ErrDamaged", err)
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("entry %d ", d.Index)) || !strings.Contains(msg, filepath.Join(dir, walDir)) {
				t.Fatalf("the refusal does not name the entry and the directory: %v", err)
			}
			if tc.name == "payload" && d.Index != at[string(payload(100))] {
				t.Fatalf("damage named at entry %d, the junk is in entry %d", d.Index, at[string(payload(100))])
			}
			if got, _ := sm.snapshotOf(); len(got) != 0 {
				t.Fatalf("%d commands applied from a damaged log", len(got))
			}
			t.Log(err)
		})
	}
}

// A member that finds its log damaged while it runs (an entry it reads
// from disk, past the log cache) says so to its owner: Failed closes and
// Failure names the entry.
func TestDamageFoundWhileRunning(t *testing.T) {
	dir, h := t.TempDir(), newHost(t)
	at := writeLedger(t, dir, h, 300)
	l := openLedger(t, damageConfig(dir, h), newAppendLog())
	select {
	case <-l.Failed():
		t.Fatal("failed before any damage")
	default:
	}
	overwrite(t, dir, payload(20), 10, rand.New(rand.NewPCG(1, 2)))
	var got raft.Log
	err := l.store.GetLog(at[string(payload(20))], &got)
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("read of the damaged entry: %v, want ErrDamaged", err)
	}
	select {
	case <-l.Failed():
	case <-time.After(5 * time.Second):
		t.Fatal("the owner was not told")
	}
	var d *DamageError
	if !errors.As(l.Failure(), &d) || d.Index != at[string(payload(20))] {
		t.Fatalf("Failure %v, want the damaged entry %d", l.Failure(), at[string(payload(20))])
	}
}

// Entries written before checksums (an earlier version's log) read back as
// they are; those appended from then on carry one, and a missing one is
// damage.
func TestEntriesBeforeChecksums(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, walDir), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := wal.Open(filepath.Join(dir, walDir))
	if err != nil {
		t.Fatal(err)
	}
	old := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("old-1")},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("old-2"), Extensions: groupExt},
	}
	if err := w.StoreLogs(old); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(dir, 0, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if st.sumsFrom != 3 {
		t.Fatalf("checksums from %d, want 3", st.sumsFrom)
	}
	if err := st.StoreLogs([]*raft.Log{{Index: 3, Term: 1, Type: raft.LogCommand, Data: []byte("new-3"), Extensions: groupExt}}); err != nil {
		t.Fatal(err)
	}
	if err := st.verify(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"old-1", "old-2", "new-3"} {
		var l raft.Log
		if err := st.GetLog(uint64(i+1), &l); err != nil {
			t.Fatal(err)
		}
		if string(l.Data) != want || (i > 0) != bytes.Equal(l.Extensions, groupExt) {
			t.Fatalf("entry %d: %q %q", i+1, l.Data, l.Extensions)
		}
	}
	// An entry past the mark without its checksum: its magic was hit.
	if err := st.WAL.StoreLogs([]*raft.Log{{Index: 4, Term: 1, Type: raft.LogCommand, Data: []byte("bare")}}); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := st.GetLog(4, &l); !errors.Is(err, ErrDamaged) {
		t.Fatalf("an entry without its checksum: %v, want ErrDamaged", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// The mark is kept: opened again, entry 4 is still damage.
	st, err = openStore(dir, 0, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.verify(); !errors.Is(err, ErrDamaged) {
		t.Fatalf("verify: %v, want ErrDamaged", err)
	}
}

// logRecorder keeps the records of a slog.Logger.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, b.String())
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) has(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.recs, func(s string) bool { return strings.Contains(s, sub) })
}

// An entry the leader appended whose bytes do not decode is not damage:
// its bytes are the same on every member (they pass the store's
// checksum), so every member refuses it alike, says so naming the index,
// and applies the entries around it; a dishonest leader cannot stop the
// group with it. After a restart it is refused again, and said again.
func TestUndecodableEntryRefusedAndSaid(t *testing.T) {
	dir := t.TempDir()
	rec := &logRecorder{}
	cfg := damageConfig(dir, newHost(t))
	cfg.Logger = slog.New(rec)
	sm := newAppendLog()
	l := openLedger(t, cfg, sm)
	applyN(t, l, 0, 3)
	f := l.raft.ApplyLog(raft.Log{Data: []byte{0xff, 0xff, 0xff}, Extensions: groupExt}, time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	index := f.Index()
	if err, ok := f.Response().(error); !ok || !errors.Is(err, errBadGroup) {
		t.Fatalf("answer %v, want errBadGroup", f.Response())
	}
	applyN(t, l, 3, 5)
	if got := sm.cmds(); !slices.Equal(got, wantCmds(0, 5)) {
		t.Fatalf("applied %q", got)
	}
	said := fmt.Sprintf("does not decode: refused on every member alike index=%d", index)
	if !rec.has(said) {
		t.Fatalf("not said: %q", rec.recs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	rec2 := &logRecorder{}
	cfg.Logger = slog.New(rec2)
	sm2 := newAppendLog()
	openLedger(t, cfg, sm2)
	if got := sm2.cmds(); !slices.Equal(got, wantCmds(0, 5)) {
		t.Fatalf("replayed %q", got)
	}
	if !rec2.has(said) {
		t.Fatalf("not said after the restart: %q", rec2.recs)
	}
}
