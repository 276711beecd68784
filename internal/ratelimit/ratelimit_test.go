package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterTableBounded(t *testing.T) {
	l := New(1, 1, 100)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		l.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256), now)
		if l.Len() > 100 {
			t.Fatalf("table grew to %d", l.Len())
		}
	}
	// A busy client is kept by a sweep, idle ones go.
	l.Allow("busy", now)
	if ok, _ := l.Allow("busy", now); ok {
		t.Error("second request within the burst of 1 allowed")
	}
	l.Sweep(now.Add(2 * IdleAfter))
	if l.Len() != 0 {
		t.Errorf("%d clients after an idle sweep", l.Len())
	}
}
