package httpguard

import (
	"testing"
	"time"
)

// TestProgressMovesTheDeadline: the deadline is set at the first read or
// write, and moved again only once another 64 KiB went through.
func TestProgressMovesTheDeadline(t *testing.T) {
	var sets int
	p := progress{stall: time.Second, set: func(time.Time) error { sets++; return nil }}
	p.before()
	p.before()
	if sets != 1 {
		t.Fatalf("%d deadlines before any byte", sets)
	}
	for range ProgressBytes/1024 - 1 {
		p.moved(1024)
	}
	if sets != 1 {
		t.Fatalf("%d deadlines below 64 KiB", sets)
	}
	p.moved(1024)
	if sets != 2 {
		t.Fatalf("%d deadlines at 64 KiB", sets)
	}
}
