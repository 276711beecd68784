package consensus

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// The Raft log survives a kill at any moment: a child process appends to
// the log store the ledger uses, truncates its tail (as raft does when a
// restarted leader's uncommitted entries are overwritten) and compacts its
// head (as snapshots do), and is killed with SIGKILL at a random moment,
// again and again; after every kill the store must open, and every entry
// in it must read back whole. raft-wal v0.4.0 failed this way for good
// (hashicorp/raft-wal#31: "sealed segment has no index block").

const (
	crashDirEnv  = "DDS_WAL_CRASH_DIR"
	crashSeedEnv = "DDS_WAL_CRASH_SEED"
	crashLazyEnv = "DDS_WAL_CRASH_LAZY"
	// crashSegment is small, so that segments seal and rotate often.
	crashSegment = 16 << 10
)

func TestWALSurvivesKills(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("the child's work runs in TestWALCrashChild")
	}
	if testing.Short() {
		t.Skip("kills a child process many times; skipped with -short")
	}
	dir := t.TempDir()
	kills := 60
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DDS_WAL_CRASH_REPLAY"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (DDS_WAL_CRASH_REPLAY=%d replays it)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 1))
	var entries uint64
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWALCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir,
			crashSeedEnv+"="+strconv.FormatUint(seed+uint64(i), 10),
			crashLazyEnv+"="+strconv.FormatBool(i%3 == 2))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(30+r.IntN(150)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		n, err := checkLog(dir)
		if err != nil {
			t.Fatalf("after kill %d (seed %d): %v\nchild: %s", i, seed, err, out.String())
		}
		entries = max(entries, n)
	}
	if entries == 0 {
		t.Fatal("the children wrote nothing: the test proves nothing")
	}
}

// TestWALCrashChild is the child's work (only with DDS_WAL_CRASH_DIR set):
// append, truncate the tail, compact the head, until killed.
func TestWALCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs as the child of TestWALSurvivesKills")
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	r := rand.New(rand.NewPCG(seed, 2))
	st, err := openStore(dir, crashSegment, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if os.Getenv(crashLazyEnv) == "true" {
		st.files.setLazy() // a non-voter's log: fsyncs put off
	}
	first, _ := st.FirstIndex()
	last, _ := st.LastIndex()
	for {
		switch x := r.IntN(20); {
		case x < 15 || last == 0: // append
			n := 1 + r.IntN(16)
			logs := make([]*raft.Log, n)
			for j := range logs {
				logs[j] = &raft.Log{Index: last + uint64(j) + 1, Term: 1, Type: raft.LogCommand, Data: crashData(r, last+uint64(j)+1)}
			}
			if err := st.StoreLogs(logs); err != nil {
				t.Fatalf("append: %v", err)
			}
			if first == 0 {
				first = 1
			}
			last += uint64(n)
		case x < 18 && last > first: // the tail truncated
			k := 1 + uint64(r.IntN(int(min(40, last-first))))
			if err := st.DeleteRange(last-k+1, last); err != nil {
				t.Fatalf("truncate the tail: %v", err)
			}
			last -= k
		case last > first+1: // the head compacted
			k := 1 + uint64(r.IntN(int(min(200, last-first-1))))
			if err := st.DeleteRange(first, first+k-1); err != nil {
				t.Fatalf("compact the head: %v", err)
			}
			first += k
		}
	}
}

// crashData is entry index's payload: its index, random bytes, and the
// sha256 of both, so a read tells a torn or foreign entry.
func crashData(r *rand.Rand, index uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, index)
	pad := make([]byte, 64+r.IntN(1500))
	for i := range pad {
		pad[i] = byte(r.Uint32())
	}
	b = append(b, pad...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// checkLog opens the store in dir, reads every entry back whole and
// closes it; it returns how many there are.
func checkLog(dir string) (uint64, error) {
	st, err := openStore(dir, crashSegment, hclog.NewNullLogger())
	if err != nil {
		return 0, fmt.Errorf("open: %w", err)
	}
	defer st.Close()
	first, err := st.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := st.LastIndex()
	if err != nil {
		return 0, err
	}
	if last < first || (first == 0) != (last == 0) {
		return 0, fmt.Errorf("first %d, last %d", first, last)
	}
	if first == 0 {
		return 0, nil
	}
	var l raft.Log
	for i := first; i <= last; i++ {
		if err := st.GetLog(i, &l); err != nil {
			return 0, fmt.Errorf("entry %d of %d..%d: %w", i, first, last, err)
		}
		d := l.Data
		if l.Index != i || len(d) < 8+32 || binary.BigEndian.Uint64(d) != i {
			return 0, fmt.Errorf("entry %d of %d..%d: not its own", i, first, last)
		}
		if sum := sha256.Sum256(d[:len(d)-32]); !bytes.Equal(sum[:], d[len(d)-32:]) {
			return 0, fmt.Errorf("entry %d of %d..%d: torn", i, first, last)
		}
	}
	return last - first + 1, nil
}
