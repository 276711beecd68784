package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestSoakRetention is the retention soak (not run with -short): it
// applies DDS_SOAK_N (default 100000) unpaid quotes to a State, moves the
// ledger's clock past the quotes' lifetime and then past the lapsed-quote
// window (by the times the commands carry), and logs the live heap after a
// GC, the snapshot's size and the records kept before the quotes, at the
// peak, once they lapsed (tombstones) and after pruning; and the time the
// sweeps took.
//
//	go test ./billing -run TestSoakRetention -v -count=1
func TestSoakRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	n := 100_000
	if v := os.Getenv("DDS_SOAK_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("DDS_SOAK_N=%q", v)
		}
	}
	f := newFixture(t, DefaultSettings())
	// Applied straight to the State: the fixture would keep every command.
	apply := func(c Command) Result {
		t.Helper()
		if c.Time.IsZero() {
			c.Time = f.now
		}
		res := f.s.Apply(signed(c))
		if res.Err != nil {
			t.Fatalf("apply %s: %v", c.Kind(), res.Err)
		}
		return res
	}
	type figures struct {
		heap, inuse uint64
		snapshot    int
		files, acc  int
	}
	measure := func(stage string) figures {
		t.Helper()
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		var buf bytes.Buffer
		if err := f.s.WriteSnapshot(&buf); err != nil {
			t.Fatal(err)
		}
		files, acc := f.s.Counts()
		fg := figures{heap: ms.HeapAlloc, inuse: ms.HeapInuse, snapshot: buf.Len(), files: files, acc: acc}
		t.Logf("%-9s heap %8.1f MiB (in use %8.1f MiB)  snapshot %9d bytes  files %7d  accruals %d",
			stage, mib(fg.heap), mib(fg.inuse), fg.snapshot, fg.files, fg.acc)
		return fg
	}

	before := measure("before")
	start := time.Now()
	add := map[string]json.RawMessage{"owner": json.RawMessage(`"alice"`)}
	for i := range n {
		id := fmt.Sprintf("%08d-soak-0000-0000-000000000000", i) // a UUID's length
		q := f.newQuote(id, 1<<20, 30*dayS)
		apply(Command{Quote: &PutQuote{Quote: q, Additional: add, Attestations: f.attest(q, f.attesters()...)}})
		if i%100 == 99 {
			f.advance(time.Second) // 100 quotes a second
		}
	}
	t.Logf("applied %d quotes in %v", n, time.Since(start).Round(time.Millisecond))
	peak := measure("peak")

	f.advance(time.Duration(f.set.QuoteLifetime) * time.Second)
	start = time.Now()
	res := apply(Command{Expire: &Expire{}})
	t.Logf("sweep: %d quotes lapsed in %v", len(res.Dropped), time.Since(start).Round(time.Microsecond))
	lapsed := measure("lapsed")

	f.advance(time.Duration(f.set.LapsedQuoteRetention) * time.Second)
	if !f.s.Due(f.now) {
		t.Fatal("nothing due after the lapsed-quote window")
	}
	start = time.Now()
	apply(Command{Expire: &Expire{}})
	t.Logf("sweep: forgot them in %v", time.Since(start).Round(time.Microsecond))
	after := measure("after")

	start = time.Now()
	apply(Command{Expire: &Expire{}}) // nothing due: the index's head only
	t.Logf("idle sweep: %v", time.Since(start).Round(time.Microsecond))

	per := func(a, b figures) string {
		return fmt.Sprintf("%.0f B heap, %.0f B snapshot", float64(int64(a.heap)-int64(b.heap))/float64(n), float64(a.snapshot-b.snapshot)/float64(n))
	}
	t.Logf("per open quote: %s; per lapsed quote (tombstone): %s", per(peak, before), per(lapsed, before))
	if after.files != 0 || after.snapshot > before.snapshot+1024 {
		t.Fatalf("after pruning: %d files, snapshot %d bytes (%d before)", after.files, after.snapshot, before.snapshot)
	}
	if after.heap > before.heap+(peak.heap-before.heap)/20 {
		t.Errorf("heap after pruning %.1f MiB, before the quotes %.1f MiB", mib(after.heap), mib(before.heap))
	}
	runtime.KeepAlive(f)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
