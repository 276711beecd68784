package node

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestPriorityFollowsTheRole(t *testing.T) {
	var logs bytes.Buffer
	var set []int
	failRaise := false
	p := &priority{base: 2, cur: 2, step: 5, log: slog.New(slog.NewTextHandler(&logs, nil)),
		set: func(nice int) error {
			if failRaise && nice < 7 {
				return syscall.EPERM
			}
			set = append(set, nice)
			return nil
		}}
	p.keep(false) // a voter from the start: nothing to do
	p.keep(true)
	p.keep(true)
	p.keep(false) // promoted
	p.keep(true)  // demoted again
	if want := []int{7, 2, 7}; !slices.Equal(set, want) {
		t.Fatalf("nice values set %v, want %v", set, want)
	}
	failRaise = true
	p.keep(false) // promoted without the right to raise it back
	p.keep(false)
	p.keep(true)
	if want := []int{7, 2, 7}; !slices.Equal(set, want) || p.cur != 7 || !p.stuck {
		t.Fatalf("after a refusal: set %v, cur %d, stuck %v", set, p.cur, p.stuck)
	}
	if n := strings.Count(logs.String(), "cannot set the CPU priority"); n != 1 {
		t.Errorf("the refusal logged %d times, want once:\n%s", n, &logs)
	}

	// Never past the lowest priority there is.
	set = nil
	p = &priority{base: 17, cur: 17, step: 5, log: slog.New(slog.DiscardHandler), set: func(n int) error { set = append(set, n); return nil }}
	p.keep(true)
	if !slices.Equal(set, []int{maxNice}) {
		t.Errorf("from nice 17, +5 set %v, want [%d]", set, maxNice)
	}
}
