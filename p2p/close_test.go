package p2p

import (
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
)

// TestCloseWhileIdentifyEmits closes a host while identify events keep
// arriving on its event bus. libp2p v0.51 stops a host's fx app (and with
// it the observed-address manager, which stops reading its identify
// subscription without closing it) before closing the basic host: events
// emitted in between filled that subscription, the emitter blocked with
// the bus's lock held, and AutoNAT's Close waited for the lock forever
// (TestNetwork32 once hung ten minutes in Close this way). The host runs
// without the observed-address manager, so every subscriber left reads or
// closes.
func TestCloseWhileIdentifyEmits(t *testing.T) {
	for range 3 {
		other := newBootHost(t)
		h := newBootHost(t, other)
		if err := h.Bootstrap(t.Context()); err != nil {
			t.Fatal(err)
		}
		conns := h.Libp2p().Network().ConnsToPeer(other.ID())
		if len(conns) == 0 {
			t.Fatal("no connection to the boot host")
		}
		evt := event.EvtPeerIdentificationCompleted{Peer: other.ID(), Conn: conns[0]}
		em, err := h.Libp2p().EventBus().Emitter(new(event.EvtPeerIdentificationCompleted))
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = em.Emit(evt)
			}
		})
		time.Sleep(50 * time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- h.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("close: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Close blocked for 20 s while identify events were emitted")
		}
		close(stop)
		wg.Wait()
		if err := em.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
