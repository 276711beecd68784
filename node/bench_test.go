package node

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// BenchmarkQuote measures an upload of a small file through the one-voter
// ledger of a --dev node: stage, price, attest, commit (raft-boltdb, synced).
func BenchmarkQuote(b *testing.B) {
	n := startDev(b, b.TempDir(), SystemClock)
	data := randomBytes(1, 1024)
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := n.Upload(b.Context(), Upload{Name: "q", Body: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

// BenchmarkQuoteParallel measures quote throughput with concurrent clients.
func BenchmarkQuoteParallel(b *testing.B) {
	n := startDev(b, b.TempDir(), SystemClock)
	data := randomBytes(1, 1024)
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := n.Upload(b.Context(), Upload{Name: "q", Body: bytes.NewReader(data)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "quotes/s")
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
