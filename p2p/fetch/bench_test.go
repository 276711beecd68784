package fetch

import (
	mrand "math/rand/v2"

	"github.com/ddsnet/dds/chunk"
	"io"
	"os"
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

// BenchmarkFetch reads a 256 MiB file of 1 MiB chunks from two holders
// (all three nodes in this process: the peak RSS covers them all).
func BenchmarkFetch(b *testing.B) {
	const size = 256 << 20
	client := newNode(b, nil, Options{})
	x, y := newNode(b, nil, Options{}), newNode(b, nil, Options{})
	holders := connect(b, client, x, y)
	var m *chunk.Manifest
	for _, n := range []*node{x, y} {
		var err error
		_, m, err = n.store.Ingest(b.Context(), io.LimitReader(mrand.NewChaCha8([32]byte{1}), size), "upload/x", 1<<20, size)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		r := client.svc.NewReader(b.Context(), m, holders, 0, -1)
		n, err := io.Copy(io.Discard, r)
		_ = r.Close()
		if err != nil || n != size {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}
