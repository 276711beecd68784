package node

import (
	"math"
	"testing"
	"time"
)

func TestRateSamplerSpansAboutAMinute(t *testing.T) {
	var r rateSampler
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if got := r.rate(t0, 5, time.Time{}); got != 0 {
		t.Errorf("first sample: rate %v, want 0", got)
	}
	// 2 a second for 30 s, sampled every 2 s.
	for s := 2; s <= 30; s += 2 {
		if got := r.rate(t0.Add(time.Duration(s)*time.Second), 5+2*float64(s), time.Time{}); math.Abs(got-2) > 1e-9 {
			t.Fatalf("at %ds: rate %v, want 2", s, got)
		}
	}
	// Then nothing for 2 minutes: the rate falls to 0 once the window
	// holds no growth.
	if got := r.rate(t0.Add(150*time.Second), 65, time.Time{}); got != 0 {
		t.Errorf("after a quiet window: rate %v, want 0", got)
	}
	if len(r.samples) > 2 {
		t.Errorf("%d samples kept beyond the window", len(r.samples))
	}
	// Asked twice within rateStep: one sample kept.
	n := len(r.samples)
	r.rate(t0.Add(150*time.Second+time.Millisecond), 65, time.Time{})
	if len(r.samples) != n {
		t.Errorf("samples %d -> %d within one step", n, len(r.samples))
	}

	// Asked first 10 s after the start, with 20 counted: 2 a second.
	var fresh rateSampler
	if got := fresh.rate(t0.Add(10*time.Second), 20, t0); math.Abs(got-2) > 1e-9 {
		t.Errorf("first ask after the start: rate %v, want 2", got)
	}
}
