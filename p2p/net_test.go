package p2p

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/p2p/feed"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// holdProtocol is a test protocol whose streams stay open until the opener
// closes them, standing for raft and chunk fetch streams.
const holdProtocol protocol.ID = "/dds/test/hold/1.0.0"

// parallel runs fn(i) for i in [0, n) on a few goroutines and returns the
// first error.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestNetwork32 starts 32 hosts in one process, joins them through the DHT,
// connects every host to every other, opens streams both ways on every
// connection, runs DHT lookups and a feed round, and checks that the
// resource manager refused nothing.
func TestNetwork32(t *testing.T) {
	if testing.Short() {
		t.Skip("32 hosts: skipped under -short")
	}
	const (
		n       = 32
		streams = 3 // per direction per peer, on top of DHT and gossipsub
	)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	heap0 := heapInUse()
	start := time.Now()

	hosts := make([]*Host, n)
	hosts[0] = newBootHost(t)
	err := parallel(n-1, 8, func(i int) error {
		hosts[i+1] = newBootHost(t, hosts[0])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		h.Libp2p().SetStreamHandler(holdProtocol, func(s network.Stream) {
			_, _ = io.Copy(io.Discard, s)
			_ = s.Close()
		})
	}
	started := time.Since(start)
	if err := parallel(n-1, 8, func(i int) error { return hosts[i+1].Bootstrap(ctx) }); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	bootstrapped := time.Since(start)

	// Full mesh: host i dials every j > i.
	err = parallel(n, 8, func(i int) error {
		for j := i + 1; j < n; j++ {
			if err := hosts[i].Connect(ctx, hosts[j].ID(), ""); err != nil {
				return fmt.Errorf("connect %d -> %d: %w", i, j, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hosts {
		if got := len(h.Peers()); got != n-1 {
			t.Fatalf("host %d has %d peers, want %d", i, got, n-1)
		}
	}
	connected := time.Since(start)

	// Streams both ways on every connection, all open at once.
	var (
		mu   sync.Mutex
		open []network.Stream
	)
	err = parallel(n, 8, func(i int) error {
		for j := range n {
			if j == i {
				continue
			}
			for range streams {
				s, err := hosts[i].Libp2p().NewStream(ctx, hosts[j].ID(), holdProtocol)
				if err != nil {
					return fmt.Errorf("stream %d -> %d: %w", i, j, err)
				}
				if _, err := s.Write([]byte("x")); err != nil {
					return fmt.Errorf("write %d -> %d: %w", i, j, err)
				}
				mu.Lock()
				open = append(open, s)
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d streams open at once", len(open))

	// DHT lookups: every host's closest peers to a few targets, and
	// FindPeer of them, through the DHT itself (not the peerstore).
	err = parallel(n, 8, func(i int) error {
		target := hosts[(i*7+3)%n].ID()
		if target == hosts[i].ID() {
			target = hosts[(i+1)%n].ID()
		}
		closest, err := hosts[i].DHT().GetClosestPeers(ctx, string(target))
		if err != nil {
			return fmt.Errorf("host %d GetClosestPeers: %w", i, err)
		}
		found := false
		for _, p := range closest {
			found = found || p == target
		}
		if !found {
			return fmt.Errorf("host %d: %s not among its closest peers %v", i, target, closest)
		}
		ai, err := hosts[i].DHT().FindPeer(ctx, target)
		if err != nil || len(ai.Addrs) == 0 {
			return fmt.Errorf("host %d DHT FindPeer: %v, %w", i, ai, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	looked := time.Since(start)

	// A feed round: every host hears every other.
	feeds := make([]*feed.Feed, n)
	for i, h := range hosts {
		f, err := feed.New(ctx, h.Libp2p(), feed.Config{
			Interval: time.Second,
			Source:   func() feed.Status { return feed.Status{HTTP: fmt.Sprintf("http://node-%d", i)} },
		})
		if err != nil {
			t.Fatal(err)
		}
		feeds[i] = f
		t.Cleanup(func() { _ = f.Close() })
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, f := range feeds {
		for len(f.Live(time.Minute)) != n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("feed %d hears %d peers, want %d", i, len(f.Live(time.Minute)), n-1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	fed := time.Since(start)
	heap := heapInUse()

	for _, s := range open {
		_ = s.Close()
	}
	for i, h := range hosts {
		if b := h.ResourceBlocks(); b.Total() != 0 {
			t.Errorf("host %d: resource manager refusals %+v", i, b)
		}
	}
	t.Logf("32 hosts: started %v, bootstrapped %v, full mesh %v, DHT lookups %v, feed round %v (cumulative); heap in use %d MiB (+%d MiB), goroutines %d",
		started.Round(time.Millisecond), bootstrapped.Round(time.Millisecond), connected.Round(time.Millisecond),
		looked.Round(time.Millisecond), fed.Round(time.Millisecond), heap>>20, (heap-heap0)>>20, runtime.NumGoroutine())
}
