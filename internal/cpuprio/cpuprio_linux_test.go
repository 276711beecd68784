package cpuprio

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// threadNices is the nice value of each thread of the process.
func threadNices(t *testing.T) map[int]int {
	t.Helper()
	m, err := Threads(0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// busyThreads starts k goroutines each locked to its own OS thread (so
// the runtime starts threads) and returns a function that ends them.
func busyThreads(k int) (stop func()) {
	var ready, done sync.WaitGroup
	quit := make(chan struct{})
	for range k {
		ready.Add(1)
		done.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			<-quit
		})
	}
	ready.Wait()
	return func() { close(quit); done.Wait() }
}

func TestSetEveryThreadAndThoseStartedAfter(t *testing.T) {
	base, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	if base >= 19 {
		t.Skipf("the process already runs at nice %d", base)
	}
	t.Cleanup(func() { _ = Set(base) }) // needs privilege; harmless without
	stop := busyThreads(4)
	defer stop()
	if err := Set(base + 1); err != nil {
		t.Fatal(err)
	}
	for tid, n := range threadNices(t) {
		if n != base+1 {
			t.Errorf("thread %d: nice %d after Set(%d)", tid, n, base+1)
		}
	}
	before := len(threadNices(t))
	stop2 := busyThreads(before + 4) // more than the idle threads the runtime keeps
	defer stop2()
	after := threadNices(t)
	if len(after) <= before {
		t.Fatalf("no thread started (%d then %d)", before, len(after))
	}
	for tid, n := range after {
		if n != base+1 {
			t.Errorf("thread %d started after Set: nice %d, want %d", tid, n, base+1)
		}
	}
	if got, err := Get(); err != nil || got != base+1 {
		t.Errorf("Get = %d, %v; want %d", got, err, base+1)
	}
	// Back down: only with CAP_SYS_NICE (or a RLIMIT_NICE allowing it).
	switch err := Set(base); {
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		t.Logf("no privilege to lower the nice value again: %v", err)
	case err != nil:
		t.Fatal(err)
	default:
		for tid, n := range threadNices(t) {
			if n != base {
				t.Errorf("thread %d: nice %d after Set(%d)", tid, n, base)
			}
		}
	}
}
