package chunk

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// stallReader gives n bytes, then blocks until release is closed, then
// fails.
type stallReader struct {
	data    []byte
	release chan struct{}
	reached chan struct{}
	once    sync.Once
}

func (r *stallReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		if r.data = r.data[n:]; len(r.data) == 0 {
			r.data = nil // what was sent is not the ingest's to hold
		}
		return n, nil
	}
	r.once.Do(func() { close(r.reached) })
	<-r.release
	return 0, errors.New("client gone")
}

// TestStalledIngestsHoldNoChunkBuffers: uploads whose client stopped
// sending between two chunks hold no chunk buffer while they wait. 48
// stalled ingests of 1 MiB chunks held 48 MiB or more before (the next
// chunk's buffer was taken before its first byte came).
func TestStalledIngestsHoldNoChunkBuffers(t *testing.T) {
	s := openStore(t, t.TempDir())
	const chunk = 1 << 20
	const stalled = 48
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // the buffer pool's victim cache too
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	release := make(chan struct{})
	var wg sync.WaitGroup
	readers := make([]*stallReader, stalled)
	for i := range readers {
		readers[i] = &stallReader{data: randBytes(uint64(i), chunk), release: release, reached: make(chan struct{})}
		wg.Go(func() {
			if _, err := s.Stage(context.Background(), readers[i], chunk, 0); err == nil {
				t.Error("a failed input was staged")
			}
		})
	}
	for _, r := range readers {
		<-r.reached
	}
	// The chunks already read are hashed and written by the workers, and
	// their buffers given back, within moments; on a loaded machine (CI
	// runs packages side by side, under -race) it takes longer. A stalled
	// ingest that keeps a buffer keeps it for good: wait for the heap to
	// come down, for up to 10 s.
	var held int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(300 * time.Millisecond)
		if held = int64(heap()) - int64(before); held <= 12<<20 || time.Now().After(deadline) {
			break
		}
	}
	close(release)
	wg.Wait()
	t.Logf("%d stalled ingests hold %.1f MiB", stalled, float64(held)/(1<<20))
	if held > 12<<20 {
		t.Errorf("%d stalled ingests hold %.1f MiB of heap; want chunk buffers given back (< 12 MiB)", stalled, float64(held)/(1<<20))
	}
}
