package p2p

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// BenchmarkStreamTCP sends 256 MiB over one libp2p stream between two
// hosts of this process on loopback TCP (TLS, yamux), in 64 KiB writes,
// and reports the process's CPU time per GiB moved, both ends together.
func BenchmarkStreamTCP(b *testing.B) {
	const total = 256 << 20
	src, dst := newTestHost(b, "/ip4/127.0.0.1/tcp/0"), newTestHost(b, "/ip4/127.0.0.1/tcp/0")
	const proto = "/dds/bench/stream/1.0.0"
	done := make(chan int64, 1)
	dst.Libp2p().SetStreamHandler(proto, func(s network.Stream) {
		n, _ := io.Copy(io.Discard, s)
		_ = s.Close()
		done <- n
	})
	ctx := context.Background()
	if err := src.Libp2p().Connect(ctx, peer.AddrInfo{ID: dst.ID(), Addrs: dst.Libp2p().Addrs()}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(total)
	var cpu time.Duration
	for b.Loop() {
		before := rusage()
		s, err := src.Libp2p().NewStream(ctx, dst.ID(), proto)
		if err != nil {
			b.Fatal(err)
		}
		for sent := 0; sent < total; sent += len(buf) {
			if _, err := s.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.CloseWrite(); err != nil {
			b.Fatal(err)
		}
		if n := <-done; n != total {
			b.Fatalf("received %d bytes of %d", n, total)
		}
		_ = s.Close()
		cpu += rusage() - before
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N)*float64(1<<30)/total, "cpu_s/GiB")
}

func rusage() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
