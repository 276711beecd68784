package node

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/chunk"
	"github.com/ipfs/go-cid"
)

func TestSharedReadsReadOnceForPushesInStep(t *testing.T) {
	cids := chunkIDs(64)
	var store countingRead
	read := store.read
	get := func(s *sharedReads, c cid.Cid) {
		t.Helper()
		data, err := s.get(t.Context(), c)
		if err != nil || string(data) != string(c.Bytes()) {
			t.Fatalf("get %s: %q, %v", c, data, err)
		}
	}
	reads := store.take

	// Two pushes, the second lagging by lag chunks: within the kept
	// window every chunk is read once; beyond it, twice.
	for _, tc := range []struct{ lag, want int }{{0, 64}, {5, 64}, {15, 64}, {16, 128}, {40, 128}} {
		s := newSharedReads(read, 16)
		for i := range len(cids) + tc.lag {
			if i < len(cids) {
				get(s, cids[i])
			}
			if j := i - tc.lag; j >= 0 {
				get(s, cids[j])
			}
		}
		if got := reads(); got != tc.want {
			t.Errorf("lag %d: %d store reads, want %d", tc.lag, got, tc.want)
		}
		if len(s.reads) > 16 || len(s.order) > 16 {
			t.Errorf("lag %d: %d reads kept, want at most 16", tc.lag, len(s.reads))
		}
	}

	// Concurrent pushes (for the race detector): every byte right, never
	// more reads than without sharing.
	s := newSharedReads(read, 16)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for _, c := range cids {
				if data, err := s.get(t.Context(), c); err != nil || string(data) != string(c.Bytes()) {
					t.Errorf("get %s: %q, %v", c, data, err)
				}
			}
		})
	}
	wg.Wait()
	if got := reads(); got > 3*len(cids) {
		t.Errorf("%d store reads for 3 pushes of %d chunks", got, len(cids))
	}
}

func TestSharedReadsFailureNotShared(t *testing.T) {
	c := chunk.Sum([]byte("x"))
	release := make(chan struct{})
	started := make(chan struct{})
	calls := 0
	s := newSharedReads(func(ctx context.Context, c cid.Cid) ([]byte, error) {
		calls++
		if calls == 1 {
			close(started)
			<-release
			return nil, context.Canceled // the first push was cancelled
		}
		return []byte("x"), nil
	}, 4)
	errc := make(chan error, 1)
	go func() {
		_, err := s.get(t.Context(), c)
		errc <- err
	}()
	<-started
	done := make(chan []byte, 1)
	go func() {
		data, err := s.get(t.Context(), c)
		if err != nil {
			t.Error(err)
		}
		done <- data
	}()
	close(release)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("first get: %v, want its own read's error", err)
	}
	if got := <-done; string(got) != "x" {
		t.Fatalf("second get: %q, want the bytes of its own read", got)
	}
}

// countingRead is a store read that counts the reads of each chunk.
type countingRead struct {
	mu    sync.Mutex
	count map[cid.Cid]int
}

func (r *countingRead) read(ctx context.Context, c cid.Cid) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count == nil {
		r.count = map[cid.Cid]int{}
	}
	r.count[c]++
	return c.Bytes(), nil
}

// total is the number of store reads so far.
func (r *countingRead) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.count {
		n += k
	}
	return n
}

// take returns the number of store reads so far and starts counting anew.
func (r *countingRead) take() int {
	n := r.total()
	r.mu.Lock()
	clear(r.count)
	r.mu.Unlock()
	return n
}

func chunkIDs(n int) []cid.Cid {
	var cids []cid.Cid
	for i := range n {
		cids = append(cids, chunk.Sum([]byte{byte(i), byte(i >> 8)}))
	}
	return cids
}

// pushAll gets every chunk in order, with up to ahead gets in flight (as
// push.Service.send does), pausing pause after each.
func pushAll(t *testing.T, get func(context.Context, cid.Cid) ([]byte, error), cids []cid.Cid, ahead int, pause time.Duration) {
	sem := make(chan struct{}, ahead)
	var wg sync.WaitGroup
	for _, c := range cids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if data, err := get(t.Context(), c); err != nil || string(data) != string(c.Bytes()) {
				t.Errorf("get %s: %q, %v", c, data, err)
			}
		})
		time.Sleep(pause)
	}
	wg.Wait()
}

// TestSharedReadsKeepPushesInStep: two joined pushes of which one is
// several times slower still read every chunk from the store once (the
// faster waits), with no more than kept chunks kept.
func TestSharedReadsKeepPushesInStep(t *testing.T) {
	cids := chunkIDs(200)
	var store countingRead
	s := newSharedReads(store.read, 8)
	s.wait = time.Minute // a wait that ran out would fail the count
	// Both join before either starts: a push that ran alone for a while
	// (its goroutine scheduled before the second joined) would read
	// chunks that nobody keeps for the second, which is not what this
	// test checks.
	pauses := []time.Duration{0, 300 * time.Microsecond}
	leaves := make([]func(), len(pauses))
	for i := range pauses {
		leaves[i] = s.join()
	}
	var wg sync.WaitGroup
	for i, pause := range pauses {
		wg.Go(func() {
			defer leaves[i]()
			pushAll(t, s.get, cids, 4, pause)
		})
	}
	wg.Wait()
	if got := store.total(); got != len(cids) {
		t.Errorf("%d store reads for %d chunks pushed twice in step, want %d", got, len(cids), len(cids))
	}
	if len(s.reads) > 8 || len(s.order) > 8 {
		t.Errorf("%d reads kept, want at most 8", len(s.reads))
	}
	if s.apart || s.pushes != 0 {
		t.Errorf("apart %v, pushes %d; want in step and none left", s.apart, s.pushes)
	}
}

// TestSharedReadsStalledPushLetGo: a joined push that takes nothing (a
// holder that stalled) holds the other back once, sharedReadsWait at
// most, and a push that left holds nobody back.
func TestSharedReadsStalledPushLetGo(t *testing.T) {
	cids := chunkIDs(100)
	var store countingRead
	s := newSharedReads(store.read, 4)
	s.wait = 50 * time.Millisecond
	stalled := s.join()
	defer stalled()
	leave := s.join()
	start := time.Now()
	pushAll(t, s.get, cids, 4, 0)
	leave()
	if d := time.Since(start); d > 20*s.wait {
		t.Errorf("the live push took %v beside a stalled one, want about one wait of %v", d, s.wait)
	}
	if !s.apart {
		t.Error("the pushes are still in step after a wait ran out")
	}
	if got := store.total(); got != len(cids) {
		t.Errorf("%d store reads, want %d", got, len(cids))
	}

	// A push that left is not waited for.
	s = newSharedReads(store.read, 4)
	s.wait = time.Minute
	s.join()() // joined and left at once: a holder that had every chunk
	leave = s.join()
	defer leave()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pushAll(t, s.get, cids, 4, 0)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a push waited for one that had left")
	}
}
