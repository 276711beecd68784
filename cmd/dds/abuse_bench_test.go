package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddsnet/dds/client"
)

// BenchmarkAbusiveUploads measures a `dds daemon --dev` beside abusive
// clients: 1,000 uploads that send their headers and one byte of body and
// then stall, and 300 that trickle a byte a second, from ten addresses
// each (127.0.0.2 to .21; each opens another when the node cuts or
// refuses one), while a normal client at 127.0.0.1 uploads 64 KiB files
// and reads their resources one after another. It reports the normal
// client's latency (p50, p99, max), the requests the node refused it
// (429/503), and the daemon's peak RSS and open file descriptors:
//
//	go test ./cmd/dds -run xxx -bench AbusiveUploads -benchtime 1x
//
// DDS_BENCH_SECONDS sets how long the normal client runs (default 20);
// DDS_BENCH_ABUSE=0 leaves the abusers out.
func BenchmarkAbusiveUploads(b *testing.B) {
	if testing.Short() {
		b.Skip("a daemon and 1,300 connections")
	}
	secs := benchEnv(b, "DDS_BENCH_SECONDS", 20, 1)
	// DDS_BENCH_ABUSE=0 runs the normal client alone, for comparison.
	stalled, trickling := 1000, 300
	if os.Getenv("DDS_BENCH_ABUSE") == "0" {
		stalled, trickling = 0, 0
	}
	// b.N, not b.Loop: with b.Loop, Go 1.26.8's escape analysis panics on
	// this body (an internal compiler error, types.HasPointers of nil).
	for range b.N {
		d := startDaemon(b, filepath.Join(b.TempDir(), "node"))
		c := d.client(b)
		addr := d.url[len("http://"):]
		pid := d.cmd.Process.Pid
		ctx, cancel := context.WithCancel(b.Context())
		stopMem := make(chan struct{})
		peak := sampleMemory(pid, stopMem)
		var peakFDs atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			for ctx.Err() == nil {
				if n, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil && int64(len(n)) > peakFDs.Load() {
					peakFDs.Store(int64(len(n)))
				}
				sleepCtx(ctx, 100*time.Millisecond)
			}
		})
		var opened atomic.Int64
		abuse := func(from int, trickle bool) {
			dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(from))}, Timeout: 5 * time.Second}
			for ctx.Err() == nil {
				conn, err := dialer.DialContext(ctx, "tcp", addr)
				if err != nil {
					sleepCtx(ctx, 100*time.Millisecond)
					continue
				}
				opened.Add(1)
				fmt.Fprintf(conn, "POST /files?name=abuse.bin HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\nx", 1<<20)
				closed := make(chan struct{})
				go func() { io.Copy(io.Discard, conn); close(closed) }()
				waitAbuse(ctx, conn, closed, trickle)
				conn.Close()
				<-closed
			}
		}
		for i := range stalled {
			wg.Go(func() { abuse(2+i%10, false) })
		}
		for i := range trickling {
			wg.Go(func() { abuse(12+i%10, true) })
		}
		sleepCtx(ctx, 3*time.Second) // the abusers settle in

		var lat []time.Duration
		var refused, failed int
		data := make([]byte, 64<<10)
		deadline := time.Now().Add(time.Duration(secs) * time.Second)
		for k := 0; time.Now().Before(deadline); k++ {
			copy(data, fmt.Sprintf("normal upload %d", k))
			start := time.Now()
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			f, err := c.Upload(rctx, bytes.NewReader(data), client.UploadOptions{Name: "n.bin", Size: int64(len(data))})
			lat = append(lat, time.Since(start))
			if err == nil {
				start = time.Now()
				_, err = c.File(rctx, f.ID)
				lat = append(lat, time.Since(start))
			}
			rcancel()
			switch {
			case client.IsCode(err, "rateLimited"), client.IsCode(err, "unavailable"):
				refused++
			case err != nil:
				failed++
				b.Logf("normal client: %v", err)
			}
		}
		cancel()
		wg.Wait()
		close(stopMem)
		m := <-peak
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(q(0.5), "p50-ms")
		b.ReportMetric(q(0.99), "p99-ms")
		b.ReportMetric(q(1), "max-ms")
		b.ReportMetric(float64(len(lat)), "requests")
		b.ReportMetric(float64(refused), "refused")
		b.ReportMetric(float64(failed), "failed")
		b.ReportMetric(float64(opened.Load()), "abuse-conns")
		b.ReportMetric(float64(m.hwm)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(peakFDs.Load()), "peak-fds")
		d.stop(b)
	}
}

// waitAbuse holds an abusive upload open until ctx ends or the node
// closes it, sending a byte a second when trickle says so.
func waitAbuse(ctx context.Context, conn net.Conn, closed <-chan struct{}, trickle bool) {
	var tick <-chan time.Time
	if trickle {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-closed:
			return
		case <-tick:
			if _, err := conn.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
