package chunk

import "time"

// kicked runs a piece of background work on a goroutine of its own each
// time it is kicked: the index's compactor after writes, the blocks'
// syncer after renames. Before a run it waits delay (so that kicks
// gather); after it, the pause the run returns. Kicks that come meanwhile
// make one more run, not one each, and an idle kicked wakes nothing.
type kicked struct {
	kick chan struct{} // buffered: one pending run
	stop chan struct{} // closed by close
	done chan struct{} // closed when the goroutine returns
}

func startKicked(delay time.Duration, run func() (pause time.Duration)) *kicked {
	k := &kicked{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		for {
			select {
			case <-k.stop:
				return
			case <-k.kick:
			}
			if !k.sleep(delay) || !k.sleep(run()) {
				return
			}
		}
	}()
	return k
}

// poke asks for a run.
func (k *kicked) poke() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// sleep waits d; false if close came first.
func (k *kicked) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-k.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-k.stop:
		return false
	case <-t.C:
		return true
	}
}

// close stops the goroutine, after the run under way if any.
func (k *kicked) close() {
	close(k.stop)
	<-k.done
}
