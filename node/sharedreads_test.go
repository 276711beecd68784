package node

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ddsnet/dds/chunk"
	"github.com/ipfs/go-cid"
)

func TestSharedReadsReadOnceForPushesInStep(t *testing.T) {
	var cids []cid.Cid
	for i := range 64 {
		cids = append(cids, chunk.Sum([]byte{byte(i)}))
	}
	var mu sync.Mutex
	count := map[cid.Cid]int{}
	read := func(ctx context.Context, c cid.Cid) ([]byte, error) {
		mu.Lock()
		count[c]++
		mu.Unlock()
		return c.Bytes(), nil
	}
	get := func(s *sharedReads, c cid.Cid) {
		t.Helper()
		data, err := s.get(t.Context(), c)
		if err != nil || string(data) != string(c.Bytes()) {
			t.Fatalf("get %s: %q, %v", c, data, err)
		}
	}
	reads := func() int {
		n := 0
		for _, k := range count {
			n += k
		}
		clear(count)
		return n
	}

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
