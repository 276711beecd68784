package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddsnet/dds/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestBudget(t *testing.T) {
	b := newBudget(10)
	if ok, _ := b.take(6); !ok {
		t.Fatal("take 6 of 10 failed")
	}
	ok, freed := b.take(5)
	if ok || freed == nil {
		t.Fatal("take 5 of the 4 left succeeded")
	}
	if ok, again := b.take(5); ok || again != freed {
		t.Fatal("a second failed take waits on another channel")
	}
	if ok, _ := b.take(4); !ok {
		t.Fatal("take the 4 left failed")
	}
	select {
	case <-freed:
		t.Fatal("woken before a give")
	default:
	}
	b.give(6)
	select {
	case <-freed:
	default:
		t.Fatal("give woke nobody")
	}
	if ok, _ := b.take(5); !ok {
		t.Fatal("take 5 of the 6 given back failed")
	}
	b.give(5)
	b.give(4)
	if n := b.inUse(); n != 0 {
		t.Fatalf("%d bytes in use after giving all back", n)
	}
}

// delayed serves every block after delay and counts the requests it
// serves at once.
type delayed struct {
	*chunk.Store
	delay     time.Duration
	now, peak *atomic.Int64
}

func (d delayed) Read(ctx context.Context, id cid.Cid, dst []byte) ([]byte, error) {
	n := d.now.Add(1)
	defer d.now.Add(-1)
	for p := d.peak.Load(); n > p && !d.peak.CompareAndSwap(p, n); p = d.peak.Load() {
	}
	select {
	case <-time.After(d.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.Store.GetInto(ctx, id, dst)
}

// gated serves the blocks in open at once and holds the others until
// release closes or the request ends: a holder that stops answering.
type gated struct {
	*chunk.Store
	open    map[cid.Cid]bool
	release chan struct{}
}

func (g gated) Read(ctx context.Context, id cid.Cid, dst []byte) ([]byte, error) {
	if !g.open[id] {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Store.GetInto(ctx, id, dst)
}

// readSlowly reads r to the end a quarter chunk at a time with a pause
// after each: a consumer slower than the fetches, so the window fills.
func readSlowly(r io.Reader, cs int) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, cs/4)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// budgetWhole fails t unless every byte of svc's window budget is back
// and no reader holds a chunk.
func budgetWhole(t *testing.T, svc *Service) {
	t.Helper()
	if n := svc.window.inUse(); n != 0 {
		t.Errorf("%d bytes of the window budget still taken", n)
	}
	if n := svc.held.Load(); n != 0 {
		t.Errorf("%d bytes of chunks still held", n)
	}
}

// Ten readers at once, as the ranged GETs of one download, hold at most
// the budget plus one chunk each, however far their windows reach.
func TestReadersShareWindowMemory(t *testing.T) {
	const cs, readers = 64 << 10, 10
	const budget = 4 * cs
	client := newNode(t, nil, Options{Window: 8, WindowMemory: budget})
	a, b := newNode(t, nil, Options{}), newNode(t, nil, Options{})
	holders := connect(t, client, a, b)
	data, _, m := ingest(t, 48*cs+123, cs, a, b)

	var wg sync.WaitGroup
	for k := range readers {
		off, n := int64(k*4*cs+100), int64(8*cs) // 9 chunks
		wg.Go(func() {
			r := client.svc.NewReader(t.Context(), m, holders, off, n)
			defer r.Close()
			got, err := readSlowly(r, cs)
			if err != nil {
				t.Errorf("reader %d: %v", k, err)
			} else if !bytes.Equal(got, data[off:off+n]) {
				t.Errorf("reader %d: wrong bytes", k)
			}
		})
	}
	wg.Wait()
	peak := client.svc.peakHeld.Load()
	t.Logf("peak %d chunks held by %d readers (budget %d chunks)", peak/cs, readers, budget/cs)
	if limit := int64(budget + readers*cs); peak > limit {
		t.Fatalf("readers held %d bytes at once, over the budget plus one chunk each (%d)", peak, limit)
	}
	if peak <= readers*cs {
		t.Fatalf("readers held %d bytes at most, never more than their free chunks: the budget was not in play", peak)
	}
	budgetWhole(t, client.svc)
}

// One reader alone keeps its whole Window in flight: its free chunk plus
// the budget, here exactly Window-1 chunks.
func TestReaderKeepsItsWholeWindow(t *testing.T) {
	const cs, window = 64 << 10, 8
	client := newNode(t, nil, Options{Window: window, WindowMemory: (window - 1) * cs})
	var now, peak atomic.Int64
	holder := newNode(t, func(s *chunk.Store) Store {
		return delayed{Store: s, delay: 200 * time.Millisecond, now: &now, peak: &peak}
	}, Options{})
	holders := connect(t, client, holder)
	data, _, m := ingest(t, 3*window*cs, cs, holder)
	got, err := readRange(t, client.svc, m, holders, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("wrong bytes")
	}
	if p := peak.Load(); p != window {
		t.Fatalf("%d requests at once at the holder, want the window (%d)", p, window)
	}
	if p := client.svc.peakHeld.Load(); p != window*cs {
		t.Fatalf("held %d bytes at most, want the window's %d", p, window*cs)
	}
	budgetWhole(t, client.svc)
}

// Readers whose consumers stopped reading keep what they took, the whole
// budget here, and the other readers still finish on their free chunk.
func TestStalledReadersDoNotHoldUpOthers(t *testing.T) {
	const cs = 64 << 10
	const budget = 4 * cs
	client := newNode(t, nil, Options{Window: 8, WindowMemory: budget})
	a, b := newNode(t, nil, Options{}), newNode(t, nil, Options{})
	holders := connect(t, client, a, b)
	data, _, m := ingest(t, 24*cs+5, cs, a, b)

	var stalled []io.Closer
	for range 3 {
		stalled = append(stalled, client.svc.NewReader(t.Context(), m, holders, 0, -1))
	}
	for deadline := time.Now().Add(10 * time.Second); client.svc.window.inUse() < budget; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stalled readers took %d bytes of the budget, want all %d", client.svc.window.inUse(), budget)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for k := range 5 {
		wg.Go(func() {
			r := client.svc.NewReader(ctx, m, holders, 0, -1)
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Errorf("reader %d beside stalled ones: %v", k, err)
			} else if !bytes.Equal(got, data) {
				t.Errorf("reader %d: wrong bytes", k)
			}
		})
	}
	wg.Wait()
	if n := client.svc.window.inUse(); n != budget {
		t.Errorf("the stalled readers hold %d bytes of the budget, want the %d they took", n, budget)
	}
	for _, r := range stalled {
		_ = r.Close()
	}
	budgetWhole(t, client.svc)
}

// However readers end (read to the end, closed midway or unread, a holder
// that lies, lacks chunks, stops answering or vanishes, the context
// cancelled), every byte they took of the budget comes back.
func TestWindowMemoryComesBack(t *testing.T) {
	const cs = 32 << 10
	client := newNode(t, nil, Options{Window: 6, WindowMemory: 6 * cs, Timeout: 20 * time.Second})
	good := newNode(t, nil, Options{})
	liar := newNode(t, func(s *chunk.Store) Store { return corrupt{s} }, Options{})
	drop := make(map[cid.Cid]bool)
	holey := newNode(t, func(s *chunk.Store) Store { return sparse{s, drop} }, Options{})
	release := make(chan struct{})
	defer close(release)
	open := make(map[cid.Cid]bool) // the first chunk only
	mute := newNode(t, func(s *chunk.Store) Store { return gated{s, open, release} }, Options{})
	gone := newNode(t, func(s *chunk.Store) Store { return gated{s, open, release} }, Options{})
	connect(t, client, good, liar, holey, mute, gone)
	data, _, m := ingest(t, 20*cs+9, cs, good, liar, holey, mute, gone)
	for i, ref := range m.Chunks {
		drop[ref.CID] = i%2 == 0
	}
	open[m.Chunks[0].CID] = true
	all := []peer.ID{good.h.ID(), holey.h.ID(), liar.h.ID()}

	// Each case reads from its holders and reports an error when the
	// reader did not end as it should.
	type tc struct {
		name   string
		copies int
		run    func() error
	}
	want := func(err, target error) error {
		if !errors.Is(err, target) {
			return fmt.Errorf("read: %v, want %v", err, target)
		}
		return nil
	}
	goneRead := make(chan struct{}) // the vanishing holder's reader read its first chunk
	cases := []tc{
		{"read to the end", 4, func() error {
			r := client.svc.NewReader(t.Context(), m, all, 0, -1)
			defer r.Close()
			got, err := readSlowly(r, cs)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("wrong bytes")
			}
			return err
		}},
		{"closed midway", 4, func() error {
			r := client.svc.NewReader(t.Context(), m, all, 0, -1)
			buf := make([]byte, 3*cs/2)
			_, err := io.ReadFull(r, buf)
			_ = r.Close()
			return err
		}},
		{"never read", 3, func() error {
			r := client.svc.NewReader(t.Context(), m, all, 0, -1)
			time.Sleep(50 * time.Millisecond)
			return r.Close()
		}},
		{"holder lies", 2, func() error {
			r := client.svc.NewReader(t.Context(), m, []peer.ID{liar.h.ID()}, 0, -1)
			defer r.Close()
			_, err := io.ReadAll(r)
			return want(err, ErrBadChunk)
		}},
		{"holder lacks chunks", 2, func() error {
			r := client.svc.NewReader(t.Context(), m, []peer.ID{holey.h.ID()}, cs, -1)
			defer r.Close()
			_, err := io.ReadAll(r)
			return want(err, ErrNotFound)
		}},
		{"cancelled while reading", 3, func() error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := client.svc.NewReader(ctx, m, all, 0, -1)
			defer r.Close()
			buf := make([]byte, 3*cs/2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
			cancel()
			_, err := io.ReadAll(r)
			return want(err, context.Canceled)
		}},
		{"cancelled while waiting", 3, func() error {
			// The holder serves the first chunk only: the reader waits for
			// the second, which took budget, when its context ends.
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := client.svc.NewReader(ctx, m, []peer.ID{mute.h.ID()}, 0, -1)
			defer r.Close()
			buf := make([]byte, cs)
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
			time.AfterFunc(100*time.Millisecond, cancel)
			_, err := io.ReadAll(r)
			return want(err, context.Canceled)
		}},
		{"holder vanishes", 1, func() error {
			r := client.svc.NewReader(t.Context(), m, []peer.ID{gone.h.ID()}, 0, -1)
			defer r.Close()
			buf := make([]byte, cs)
			_, err := io.ReadFull(r, buf)
			close(goneRead)
			if err != nil {
				return err
			}
			if _, err := io.ReadAll(r); err == nil || errors.Is(err, context.Canceled) {
				return fmt.Errorf("read from a holder gone: %v, want its failure", err)
			}
			return nil
		}},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		for k := range c.copies {
			wg.Go(func() {
				if err := c.run(); err != nil {
					t.Errorf("%s (%d): %v", c.name, k, err)
				}
			})
		}
	}
	<-goneRead
	_ = gone.h.Close()
	wg.Wait()
	budgetWhole(t, client.svc)
}
