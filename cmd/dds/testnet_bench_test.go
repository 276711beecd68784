package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/testnet"
)

// BenchmarkTestnetQuote measures what `dds testnet --nodes N` gives a user:
// N `dds daemon` processes (32 by default, DDS_BENCH_NODES sets another
// count) started together, the time until every one serves, then quotes
// (a small upload over HTTP, attested by 3 peers and committed through
// the Raft leader) at a node that does not lead, one at a time: 20 right
// after the start (warm-*), then 300 more (p50, p99; DDS_BENCH_QUOTES sets
// another count). Run it once:
//
//	go test ./cmd/dds -run '^$' -bench TestnetQuote -benchtime 1x
//
// One after another, the quotes keep the machine as busy as they can: a
// quote costs the 32 daemons about 10 ms of CPU, so on 2 cores the next
// one always meets the work the last left behind (non-voters applying
// it). DDS_BENCH_RATE=R sends them at R a second instead, at random
// (Poisson) times, still one at a time: a quote held up by the one before
// counts from when it was due, the wait included (no coordinated
// omission).
func BenchmarkTestnetQuote(b *testing.B) {
	if testing.Short() {
		b.Skip("a network of 32 processes")
	}
	nodes := int(benchEnv(b, "DDS_BENCH_NODES", 32, 4))
	quotes := int(benchEnv(b, "DDS_BENCH_QUOTES", 300, 100))
	rate := benchEnv(b, "DDS_BENCH_RATE", 0, 0)
	bin := ddsBinary(b)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
		stderr := &lockedBuffer{}
		start := time.Now()
		nw, err := testnet.StartProcesses(ctx, testnet.ProcessOptions{
			Binary: bin, Nodes: nodes, Dir: b.TempDir(), Stderr: stderr,
			ExtraArgs: []string{"--log-level", "warn"},
		})
		if err != nil {
			cancel()
			b.Fatalf("start the network: %v\n%s", err, stderr)
		}
		b.ReportMetric(time.Since(start).Seconds(), "start_s")
		c := quoteClient(ctx, b, nw)
		data := []byte("x")
		quote := func(i int, t0 time.Time) time.Duration {
			if _, err := c.Upload(ctx, bytes.NewReader(data), client.UploadOptions{Name: fmt.Sprint("q", i), Size: int64(len(data))}); err != nil {
				b.Fatalf("quote %d: %v\n%s", i, err, stderr)
			}
			return time.Since(t0)
		}
		var warm, lat []time.Duration
		for i := range 20 {
			warm = append(warm, quote(i, time.Now()))
		}
		// What the idle network burns (heartbeats, status feed, DHT), as
		// cores busy, then the CPU of the daemons per quote.
		idle, t0 := networkCPU(nw), time.Now()
		time.Sleep(3 * time.Second)
		b.ReportMetric((networkCPU(nw)-idle).Seconds()/time.Since(t0).Seconds(), "idle_cores")
		before := nodesCPU(nw)
		due, loop := time.Now(), time.Now()
		for i := range quotes {
			t0 := time.Now()
			if rate > 0 {
				// Behind schedule, the quote counts from when it was due;
				// on time, from when it goes (not the client's oversleep).
				due = due.Add(time.Duration(rand.ExpFloat64() * float64(time.Second) / float64(rate)))
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
					t0 = time.Now()
				} else {
					t0 = due
				}
			}
			lat = append(lat, quote(20+i, t0))
		}
		b.ReportMetric(float64(len(lat))/time.Since(loop).Seconds(), "quotes/s")
		after := nodesCPU(nw)
		var cpu time.Duration
		for id, d := range after {
			cpu += d - before[id]
		}
		// All the daemons' CPU while the quotes ran, the idle network's
		// share included (a larger part when they are paced).
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu_µs/quote")
		logRoleCPU(ctx, b, nw, c, before, after, len(lat))
		slices.Sort(warm)
		slices.Sort(lat)
		b.ReportMetric(float64(warm[len(warm)/2].Microseconds()), "warm_p50_µs")
		b.ReportMetric(float64(warm[len(warm)-1].Microseconds()), "warm_max_µs")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_µs")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max_µs")
		b.Logf("quote latency p90 %v, p95 %v, p98 %v, slowest ten %v", lat[len(lat)*90/100], lat[len(lat)*95/100], lat[len(lat)*98/100], lat[len(lat)-10:])
		if err := nw.Stop(); err != nil {
			b.Errorf("stop the network: %v", err)
		}
		cancel()
	}
}

// quoteClient returns a client of a node of nw that does not lead the
// ledger (its quotes go through the forwarded apply, as most do).
func quoteClient(ctx context.Context, b *testing.B, nw *testnet.ProcessNetwork) *client.Client {
	b.Helper()
	var leader string
	var clients []*client.Client
	for _, n := range nw.Nodes {
		c, err := client.New(n.HTTP, client.WithBillingToken(n.BillingToken))
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		if leader == "" {
			if st, err := c.Status(ctx); err == nil {
				leader = st.Leader
			}
		}
	}
	for i, n := range nw.Nodes {
		if n.PeerID != leader {
			return clients[i]
		}
	}
	return clients[0]
}

// nodesCPU is the CPU time each daemon of nw has used, by peer id.
func nodesCPU(nw *testnet.ProcessNetwork) map[string]time.Duration {
	m := make(map[string]time.Duration, len(nw.Nodes))
	for _, n := range nw.Nodes {
		m[n.PeerID] = processCPU(n.PID)
	}
	return m
}

// logRoleCPU logs the daemons' CPU per quote from before to after
// (nodesCPU), by role: the node quoted, the leader, the other voters, the
// non-voters.
func logRoleCPU(ctx context.Context, b *testing.B, nw *testnet.ProcessNetwork, quoted *client.Client, before, after map[string]time.Duration, quotes int) {
	b.Helper()
	info, err := quoted.Info(ctx)
	if err != nil {
		b.Logf("role CPU: %v", err)
		return
	}
	st, _ := quoted.Status(ctx)
	role := make(map[string]string)
	for _, m := range info.Quorum {
		role[m.PeerID] = m.Role
	}
	type sum struct {
		cpu time.Duration
		n   int
	}
	sums := make(map[string]*sum)
	for _, n := range nw.Nodes {
		r := role[n.PeerID]
		switch n.PeerID {
		case info.PeerID:
			r = "quoted(" + r + ")"
		case st.Leader:
			r = "leader"
		}
		if sums[r] == nil {
			sums[r] = &sum{}
		}
		sums[r].cpu += after[n.PeerID] - before[n.PeerID]
		sums[r].n++
	}
	for r, s := range sums {
		b.Logf("%-18s %2d nodes: %6d µs/quote together, %5d each", r, s.n,
			s.cpu.Microseconds()/int64(quotes), s.cpu.Microseconds()/int64(quotes*s.n))
	}
}
