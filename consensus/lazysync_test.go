package consensus

import (
	"testing"
	"time"
)

// countFile is a segment file that counts its fsyncs.
type countFile struct {
	syncs  int
	closed bool
}

func (c *countFile) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (c *countFile) ReadAt(p []byte, _ int64) (int, error)  { return len(p), nil }
func (c *countFile) Sync() error                            { c.syncs++; return nil }
func (c *countFile) Close() error                           { c.closed = true; return nil }

// Lazy, Sync puts the fsync off until lazyFlush has passed, the file
// closes or the file system turns durable; durable, every Sync fsyncs.
func TestLazyFSPutsSyncsOff(t *testing.T) {
	l := newLazyFS()
	a, b := &countFile{}, &countFile{}
	fa, fb := &lazyFile{WritableFile: a, fs: l}, &lazyFile{WritableFile: b, fs: l}

	if err := fa.Sync(); err != nil || a.syncs != 1 {
		t.Fatalf("durable: %d fsyncs, %v", a.syncs, err)
	}
	l.setLazy()
	l.lastSync = time.Now()
	for range 3 {
		if err := fa.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := fb.Sync(); err != nil {
		t.Fatal(err)
	}
	if a.syncs != 1 || b.syncs != 0 || len(l.dirty) != 2 {
		t.Fatalf("lazy: %d and %d fsyncs, %d files put off", a.syncs, b.syncs, len(l.dirty))
	}
	// Due: one Sync flushes every file put off.
	l.lastSync = time.Now().Add(-lazyFlush)
	if err := fa.Sync(); err != nil {
		t.Fatal(err)
	}
	if a.syncs != 2 || b.syncs != 1 || len(l.dirty) != 0 {
		t.Fatalf("after lazyFlush: %d and %d fsyncs, %d files put off", a.syncs, b.syncs, len(l.dirty))
	}
	// A file closed with its fsync put off is synced first.
	if err := fb.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := fb.Close(); err != nil || b.syncs != 2 || !b.closed || len(l.dirty) != 0 {
		t.Fatalf("close: %d fsyncs, closed %v, %d put off, %v", b.syncs, b.closed, len(l.dirty), err)
	}
	// Durable again: what was put off is synced at once, and every Sync
	// after.
	if err := fa.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.durable(); err != nil || a.syncs != 3 {
		t.Fatalf("durable again: %d fsyncs, %v", a.syncs, err)
	}
	if err := fa.Sync(); err != nil || a.syncs != 4 {
		t.Fatalf("durable Sync: %d fsyncs, %v", a.syncs, err)
	}
}
