package fetch

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errAllFailed: every candidate of a hedged request failed.
var errAllFailed = errors.New("every holder failed")

// hedged asks candidates 0..n-1 for one thing with try: the first at once,
// the next one too after each delay without an answer (slow, when not
// nil, hears of the candidate passed over) or at once after a failure
// (failed hears of it). The first success wins; the requests still running
// are cancelled, and a success among them goes to discard (when not nil).
// It returns ctx's error when ctx ends, errAllFailed when every candidate
// failed.
func hedged[T any](ctx context.Context, n int, delay time.Duration,
	try func(ctx context.Context, i int) (T, error),
	failed func(i int, err error), slow func(i int), discard func(T)) (T, error) {
	type attempt struct {
		i   int
		v   T
		err error
	}
	tctx, cancel := context.WithCancel(ctx)
	attempts := make(chan attempt, n)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		close(attempts)
		for a := range attempts {
			if a.err == nil && discard != nil {
				discard(a.v)
			}
		}
	}()
	next, pending := 0, 0
	start := func() {
		i := next
		next++
		pending++
		wg.Go(func() {
			v, err := try(tctx, i)
			attempts <- attempt{i, v, err}
		})
	}
	var zero T
	if n == 0 {
		return zero, errAllFailed
	}
	start()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			if next < n {
				if slow != nil {
					slow(next - 1)
				}
				start()
				timer.Reset(delay)
			}
		case a := <-attempts:
			pending--
			if a.err == nil {
				return a.v, nil
			}
			if ctx.Err() != nil {
				return zero, ctx.Err()
			}
			failed(a.i, a.err)
			if next < n {
				start()
				timer.Reset(delay)
			} else if pending == 0 {
				return zero, errAllFailed
			}
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}
