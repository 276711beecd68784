package testnet

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
)

func startBenchNet(b *testing.B, n int) *Network {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nw, err := Start(ctx, Options{Nodes: n, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nw.Close() })
	return nw
}

// BenchmarkNetworkQuote measures a quote in a 4-node network: a small
// upload at a node that does not lead, attested by 3 peers and committed
// through the forwarded Raft apply.
func BenchmarkNetworkQuote(b *testing.B) {
	nw := startBenchNet(b, 4)
	nd := nw.Nodes[(leaderOf(nw)+1)%len(nw.Nodes)].Node
	data := bytes.Repeat([]byte("q"), 1024)
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := nd.Upload(b.Context(), node.Upload{Name: "q", Body: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
	reportStages(b, nd)
}

// reportStages reports the mean time of each upload stage at nd.
func reportStages(b *testing.B, nd *node.Node) {
	reg := prometheus.NewRegistry()
	for _, c := range nd.Collectors() {
		reg.MustRegister(c)
	}
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dds_upload_stage_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h.GetSampleCount() > 0 {
				b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount())*1e6, m.GetLabel()[0].GetValue()+"-µs")
			}
		}
	}
}

// BenchmarkNetworkQuoteParallel measures quote throughput with concurrent
// clients spread over the 4 nodes: 32 and 128 of them (throughput grows
// with concurrency until the nodes are busy: raft batches more commands
// per sync).
func BenchmarkNetworkQuoteParallel(b *testing.B) {
	for _, clients := range []int{32, 128} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			nw := startBenchNet(b, 4)
			data := bytes.Repeat([]byte("q"), 1024)
			b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
			var next int
			var mu = make(chan struct{}, 1)
			cpu := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				mu <- struct{}{}
				nd := nw.Nodes[next%len(nw.Nodes)].Node
				next++
				<-mu
				for pb.Next() {
					if _, err := nd.Upload(context.Background(), node.Upload{Name: "q", Body: bytes.NewReader(data)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "quotes/s")
			// CPU time (all 4 nodes and the clients) per quote: steadier
			// than quotes/s on a machine whose disk and neighbours vary.
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/quote")
			reportStages(b, nw.Nodes[0].Node)
		})
	}
}

// BenchmarkStart32 measures how long a 32-node network takes to start,
// then quotes at a node that does not lead, one at a time: the first 20
// right after the start, while the non-voters catch up and the first
// connections are made (warm-* metrics, their median and slowest), then
// 200 more (p50, p99).
func BenchmarkStart32(b *testing.B) {
	for b.Loop() {
		start := time.Now()
		nw := startBenchNet(b, 32)
		b.ReportMetric(time.Since(start).Seconds(), "start-s")
		nd := nw.Nodes[(leaderOf(nw)+5)%len(nw.Nodes)].Node
		quote := func(name string) time.Duration {
			s := time.Now()
			if _, err := nd.Upload(context.Background(), node.Upload{Name: name, Body: bytes.NewReader([]byte("x"))}); err != nil {
				b.Fatal(err)
			}
			return time.Since(s)
		}
		var warm []time.Duration
		for i := range 20 {
			warm = append(warm, quote(fmt.Sprint("warm-", i)))
		}
		slices.Sort(warm)
		b.ReportMetric(float64(warm[len(warm)/2].Microseconds()), "warm-p50-µs")
		b.ReportMetric(float64(warm[len(warm)-1].Microseconds()), "warm-max-µs")
		var lat []time.Duration
		for i := range 200 {
			lat = append(lat, quote(fmt.Sprint(i)))
		}
		reportLatency(b, lat)
		reportStages(b, nd)
		nw.Close()
	}
}

// processCPU returns the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func leaderOf(nw *Network) int {
	for i, nd := range nw.Nodes {
		if nd.Node != nil && nd.Node.Status(context.Background()).Leader == nd.Node.PeerID() {
			return i
		}
	}
	return 0
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BenchmarkStorage replicates a file in a 5-node network in this process
// and reads it back from a node that holds none of it: the same flow as
// cmd/dds's BenchmarkStorage1GiB (separate processes), here so that one CPU
// profile covers every node (-cpuprofile). DDS_BENCH_SIZE sets the size
// (256 MiB by default).
func BenchmarkStorage(b *testing.B) {
	size := int64(256 << 20)
	if s := os.Getenv("DDS_BENCH_SIZE"); s != "" {
		var err error
		if size, err = strconv.ParseInt(s, 10, 64); err != nil || size <= 0 {
			b.Fatalf("DDS_BENCH_SIZE=%q: want a positive number of bytes", s)
		}
	}
	nw := startBenchNet(b, 5)
	clients := make([]*client.Client, len(nw.Nodes))
	for i, nd := range nw.Nodes {
		c, err := client.New(nd.URL, client.WithBillingToken(nd.Token), client.WithPollInterval(10*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	var replicate, download time.Duration
	runs := 0
	for b.Loop() {
		b.StopTimer()
		runs++
		src := mrand.NewChaCha8([32]byte{byte(runs)})
		// CRC-32C checks the bytes cheaply (the client shares the cores
		// with the nodes, which verify every chunk against its CID).
		want := crc32.New(castagnoli)
		f, err := clients[0].Upload(b.Context(), io.TeeReader(io.LimitReader(src, size), want), client.UploadOptions{Name: "bench.bin", Size: size})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := clients[0].Pay(b.Context(), f.ID, api.PaymentSuccess, f.Price, ""); err != nil {
			b.Fatal(err)
		}
		stored, err := clients[0].WaitState(b.Context(), f.ID, nil, api.StateStored)
		if err != nil {
			b.Fatal(err)
		}
		replicate += time.Since(start)
		reader := slices.IndexFunc(nw.Nodes, func(nd *Node) bool { return !slices.Contains(stored.Replicas, nd.Node.PeerID()) })
		if reader < 0 {
			b.Fatalf("every node holds the file: %v", stored.Replicas)
		}
		start = time.Now()
		body, _, err := clients[reader].Download(b.Context(), f.ID, 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		got := crc32.New(castagnoli)
		n, err := io.Copy(got, body)
		body.Close()
		if err != nil || n != size {
			b.Fatalf("download: %d of %d bytes: %v", n, size, err)
		}
		download += time.Since(start)
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			b.Fatal("downloaded bytes differ from the upload")
		}
	}
	b.ReportMetric(replicate.Seconds()/float64(runs), "replicate_s")
	b.ReportMetric(float64(size)*float64(runs)/1e6/download.Seconds(), "download_MB/s")
}

// BenchmarkFileInfo measures GET /files/{id}/info over HTTP in a 4-node
// network, at the leader and at a node that does not lead: the answer is
// the ledger's current record, so the leader confirms it leads (a round of
// heartbeats) and a follower asks the leader how far its ledger is first.
func BenchmarkFileInfo(b *testing.B) {
	nw := startBenchNet(b, 4)
	lead := leaderOf(nw)
	for _, at := range []struct {
		name string
		i    int
	}{{"leader", lead}, {"follower", (lead + 1) % len(nw.Nodes)}} {
		b.Run(at.name, func(b *testing.B) {
			c, err := client.New(nw.Nodes[at.i].URL)
			if err != nil {
				b.Fatal(err)
			}
			f, err := c.Upload(b.Context(), bytes.NewReader([]byte("info")), client.UploadOptions{Name: "i", Size: 4})
			if err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := c.File(b.Context(), f.ID); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportLatency(b, lat)
		})
	}
}
