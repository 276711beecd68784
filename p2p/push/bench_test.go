package push

import (
	"encoding/binary"
	"sync"

	"github.com/ddsnet/dds/chunk"
	"io"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// peakRSS returns the process's peak resident set (VmHWM) in MiB, or -1.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

// BenchmarkPush pushes a 256 MiB file of 1 MiB chunks to one holder (both
// in this process, so the peak RSS covers both nodes).
func BenchmarkPush(b *testing.B) {
	const size = 256 << 20
	a := newNode(b, nil)
	root, m, err := a.store.Ingest(b.Context(), io.LimitReader(mrand.NewChaCha8([32]byte{1}), size), "upload/x", 1<<20, size)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		h := newNode(b, nil)
		connect(b, a, h)
		b.StartTimer()
		if _, err := a.svc.Push(b.Context(), h.h.ID(), h.h.PublicKey(), "f", root, m, a.store.Get); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}

// BenchmarkStorePut is the baseline of BenchmarkPush without the network:
// a holder's chunk.Store.Put of 256 MiB of 1 MiB chunks with as many
// workers as the push handler uses.
func BenchmarkStorePut(b *testing.B) {
	const size = 256 << 20
	b.SetBytes(size)
	seed := byte(0)
	for b.Loop() {
		b.StopTimer()
		n := newNode(b, nil)
		seed++
		b.StartTimer()
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range putWorkers {
			wg.Go(func() {
				data := make([]byte, 1<<20)
				for i := range jobs {
					binary.LittleEndian.PutUint64(data, uint64(i)<<8|uint64(seed))
					if err := n.store.Put(b.Context(), chunk.Sum(data), data); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for i := range size >> 20 {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
	}
}

// BenchmarkPush3 pushes a 256 MiB file to three holders at once, as a
// node replicates an upload (four nodes in this process).
func BenchmarkPush3(b *testing.B) {
	const size = 256 << 20
	a := newNode(b, nil)
	root, m, err := a.store.Ingest(b.Context(), io.LimitReader(mrand.NewChaCha8([32]byte{3}), size), "upload/x", 1<<20, size)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		holders := []*node{newNode(b, nil), newNode(b, nil), newNode(b, nil)}
		for _, h := range holders {
			connect(b, a, h)
		}
		b.StartTimer()
		var wg sync.WaitGroup
		for _, h := range holders {
			wg.Go(func() {
				if _, err := a.svc.Push(b.Context(), h.h.ID(), h.h.PublicKey(), "f", root, m, a.store.Get); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}
