package node

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ddsnet/dds/billing"
)

// BenchmarkRetentionSoak is the retention soak of a --dev node: N unpaid
// uploads (DDS_SOAK_QUOTES, default 100,000), then the node's clock moved
// past the quotes' lifetime and the lapsed-quote window, with a sweep after
// each step and a GC of the chunks. At each stage it reports the files in
// the ledger, the ledger's snapshot, the raft directory on disk, the
// process's RSS and heap after a GC, and the latency of Info (what GET
// /info answers). Run it once:
//
//	go test ./node -run xxx -bench RetentionSoak -benchtime 1x
func BenchmarkRetentionSoak(b *testing.B) {
	quotes := 100_000
	if s := os.Getenv("DDS_SOAK_QUOTES"); s != "" {
		var err error
		if quotes, err = strconv.Atoi(s); err != nil || quotes < 1 {
			b.Fatalf("DDS_SOAK_QUOTES=%q", s)
		}
	}
	for range b.N {
		clock := &testClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
		dir := b.TempDir()
		n := startDev(b, dir, clock)
		ctx := b.Context()
		stage := func(name string) {
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			var files int
			var snap countWriter
			n.ledger.Read(func(st *billing.State) {
				files = st.FileCount()
				if err := st.WriteSnapshot(&snap); err != nil {
					b.Fatal(err)
				}
			})
			var lat []time.Duration
			for range 200 {
				start := time.Now()
				n.Info(ctx)
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.Logf("%-7s files %7d, snapshot %11d B, raft dir %11d B on disk, RSS %6.1f MiB, heap in use %6.1f MiB, Info p50 %5.1f µs p99 %5.1f µs",
				name, files, snap.n, dirSize(filepath.Join(dir, "raft")), float64(rss())/(1<<20), float64(ms.HeapInuse)/(1<<20),
				float64(lat[len(lat)/2].Nanoseconds())/1e3, float64(lat[len(lat)*99/100].Nanoseconds())/1e3)
			if path := os.Getenv("DDS_SOAK_HEAP"); path != "" && name == "settled" {
				// DDS_SOAK_HEAP=FILE writes the heap as it is at the end.
				if f, err := os.Create(path); err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
			b.ReportMetric(float64(snap.n), name+"-snapshot-B")
			b.ReportMetric(float64(rss())/(1<<20), name+"-RSS-MiB")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, name+"-info-p99-µs")
		}
		stage("before")
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(quotes) {
						return
					}
					body := bytes.NewReader(fmt.Appendf(nil, "unpaid upload %d", i))
					if _, err := n.Upload(ctx, Upload{Name: "soak.bin", Body: body}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		stage("peak")
		s, _ := n.settings()
		clock.Advance(time.Duration(s.QuoteLifetime)*time.Second + time.Minute)
		expire := func() {
			n.expire(ctx) // the sweep, the pins' reconcile, the unpaid uploads' set
			if _, err := n.CollectGarbage(ctx); err != nil {
				b.Fatal(err)
			}
		}
		expire() // the quotes lapse: tombstones for the lapsed-quote window
		stage("lapsed")
		clock.Advance(time.Duration(s.LapsedQuoteRetention)*time.Second + time.Minute)
		expire() // past the window: gone
		stage("after")
		// The chunk index compacts away the entries the GC deleted: its
		// table builders hold tens of MiB meanwhile.
		time.Sleep(15 * time.Second)
		stage("settled")
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// rss is this process's resident set, from /proc/self/status.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// dirSize is the disk the files under dir take (their allocated blocks:
// raft-wal makes its segments at their full size, sparse).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				}
			}
		}
		return nil
	})
	return n
}
