package consensus

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkApply measures Apply on a one-voter group over raft-boltdb
// (synced writes). It reports the median latency and the throughput.
func BenchmarkApply(b *testing.B) {
	h := newHost(b)
	l := openLedger(b, testConfig(b.TempDir(), h), &counter{})
	cmd := []byte("quote:0123456789abcdef0123456789abcdef")

	b.Run("sequential", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		start := time.Now()
		for b.Loop() {
			t0 := time.Now()
			if _, err := l.Apply(b.Context(), cmd); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		report(b, lat, time.Since(start))
	})
	b.Run("parallel", func(b *testing.B) {
		var mu sync.Mutex
		lat := make([]time.Duration, 0, b.N)
		b.SetParallelism(16)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			mine := make([]time.Duration, 0, 1024)
			for pb.Next() {
				t0 := time.Now()
				if _, err := l.Apply(b.Context(), cmd); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		report(b, lat, time.Since(start))
	})
}

func report(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "ops/s")
}

// counter is a minimal state machine for benchmarks.
type counter struct{ n uint64 }

func (c *counter) Apply(index uint64, cmd []byte) []byte { c.n++; return fmt.Appendf(nil, "%d", c.n) }
func (c *counter) Snapshot(w io.Writer) error            { _, err := fmt.Fprintf(w, "%d", c.n); return err }
func (c *counter) Restore(r io.Reader) error             { _, err := fmt.Fscan(r, &c.n); return err }
