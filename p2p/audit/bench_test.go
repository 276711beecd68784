package audit

import (
	"testing"
	"time"
)

// BenchmarkChallenge measures challenges of 1 MiB chunks between two
// hosts on loopback: each reads and hashes the chunk on both sides (the
// files stay in the page cache) and one round trip.
func BenchmarkChallenge(b *testing.B) {
	const cs, n = 1 << 20, 16
	auditor, holder := newNode(b, nil, Options{}), newNode(b, nil, Options{})
	p := connect(b, auditor.h, holder.h)
	m := ingest(b, cs*n, cs, auditor, holder)
	b.SetBytes(cs)
	b.ResetTimer()
	start := time.Now()
	i := 0
	for b.Loop() {
		if err := auditor.svc.Challenge(b.Context(), p, m.Chunks[i%n].CID); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "challenges/s")
}

// BenchmarkChallengeParallel runs challenges from several goroutines at
// once (at most the holder's MaxConcurrent).
func BenchmarkChallengeParallel(b *testing.B) {
	const cs, n = 1 << 20, 16
	auditor, holder := newNode(b, nil, Options{}), newNode(b, nil, Options{MaxConcurrent: 64})
	p := connect(b, auditor.h, holder.h)
	m := ingest(b, cs*n, cs, auditor, holder)
	b.SetBytes(cs)
	b.SetParallelism(2)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := auditor.svc.Challenge(b.Context(), p, m.Chunks[i%n].CID); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "challenges/s")
}
