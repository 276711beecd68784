package chunk

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const benchFile = 256 << 20

// genReader produces n deterministic bytes fast: a random block repeated,
// with every block's first 16 bytes stamped with (stamp, block index) so
// that no two chunks of a run, or of two runs, are equal.
type genReader struct {
	block []byte
	n     int64
	off   int64
	stamp uint64
}

func newGen(n int64, stamp uint64) *genReader {
	return &genReader{block: randBytes(7, int(DefaultSize)), n: n, stamp: stamp}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	L := int64(len(g.block))
	total := 0
	for len(p) > 0 && g.off < g.n {
		pos, k := g.off%L, g.off/L
		m := min(int64(len(p)), L-pos, g.n-g.off)
		copy(p[:m], g.block[pos:pos+m])
		if pos < 16 {
			var hdr [16]byte
			binary.LittleEndian.PutUint64(hdr[:], g.stamp)
			binary.LittleEndian.PutUint64(hdr[8:], uint64(k))
			copy(p[:m], hdr[pos:])
		}
		p = p[m:]
		g.off += m
		total += int(m)
	}
	return total, nil
}

// procStatus returns the named fields of /proc/self/status in MiB.
func procStatus(fields ...string) map[string]float64 {
	out := make(map[string]float64)
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		for _, want := range fields {
			if k == want {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				out[k] = kb / 1024
			}
		}
	}
	return out
}

// resetPeakRSS resets VmHWM (Linux clear_refs 5); best effort.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func reportRSS(b *testing.B) {
	st := procStatus("VmHWM", "VmRSS", "RssAnon", "RssFile")
	b.ReportMetric(st["VmHWM"], "peak-RSS-MiB")
	b.ReportMetric(st["RssAnon"], "anon-RSS-MiB")
	b.ReportMetric(st["RssFile"], "file-RSS-MiB")
}

func BenchmarkIngest(b *testing.B) {
	s := openInline(b, b.TempDir())
	resetPeakRSS()
	b.SetBytes(benchFile)
	i := 0
	for b.Loop() {
		i++
		if _, _, err := s.Ingest(b.Context(), newGen(benchFile, uint64(i)), fmt.Sprint("bench/", i), DefaultSize, 0); err != nil {
			b.Fatal(err)
		}
	}
	reportRSS(b)
}

func BenchmarkRead(b *testing.B) {
	s := openInline(b, b.TempDir())
	_, m, err := s.Ingest(b.Context(), newGen(benchFile, 0), "bench", DefaultSize, 0)
	if err != nil {
		b.Fatal(err)
	}
	resetPeakRSS()
	b.SetBytes(benchFile)
	for b.Loop() {
		r, err := s.NewReader(b.Context(), m, 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != benchFile {
			b.Fatal(n, err)
		}
		r.Close()
	}
	reportRSS(b)
}

// BenchmarkUploadDownload1GiB is the daemon's budget case: ingest then
// read back 1 GiB, reporting the peak RSS. Run it alone:
//
//	go test -run '^$' -bench UploadDownload1GiB -benchtime 1x ./chunk/
func BenchmarkUploadDownload1GiB(b *testing.B) {
	const size = 1 << 30
	s := openInline(b, b.TempDir())
	resetPeakRSS()
	b.SetBytes(2 * size)
	for b.Loop() {
		_, m, err := s.Ingest(b.Context(), newGen(size, 1), "bench", DefaultSize, 0)
		if err != nil {
			b.Fatal(err)
		}
		r, err := s.NewReader(b.Context(), m, 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != size {
			b.Fatal(n, err)
		}
		r.Close()
	}
	reportRSS(b)
}

// BenchmarkOpen measures opening a store that holds a 256 MiB file and the
// resident set right after (the idle daemon's share).
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	opts := DefaultOptions(dir)
	opts.Logger = testLogger(b)
	s, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.Ingest(b.Context(), newGen(benchFile, 0), "bench", DefaultSize, 0); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	resetPeakRSS()
	for b.Loop() {
		s, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		if u := s.Usage(); u.Bytes != benchFile {
			b.Fatal(u)
		}
		reportRSS(b)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestSmall is the quote path: one 1 KiB upload at a time,
// reporting the median latency.
func BenchmarkIngestSmall(b *testing.B) {
	s := openInline(b, b.TempDir())
	data := randBytes(9, 1024)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		binary.LittleEndian.PutUint64(data, uint64(i))
		start := time.Now()
		if _, _, err := s.Ingest(b.Context(), bytes.NewReader(data), fmt.Sprint("q/", i), DefaultSize, 0); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkIngestSmallConcurrent is the quote path under load: 16
// goroutines each ingesting 1 KiB uploads.
func BenchmarkIngestSmallConcurrent(b *testing.B) {
	s := openInline(b, b.TempDir())
	var n atomic.Int64
	b.SetParallelism(16 / max(1, runtime.GOMAXPROCS(0)))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		data := randBytes(10, 1024)
		for pb.Next() {
			i := n.Add(1)
			binary.LittleEndian.PutUint64(data, uint64(i))
			if _, _, err := s.Ingest(b.Context(), bytes.NewReader(data), fmt.Sprint("q/", i), DefaultSize, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "ingests/s")
}
