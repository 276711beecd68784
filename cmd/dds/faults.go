package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// faultSignalsEnv, set to 1 in a daemon's environment, makes it a target
// of fault-injection tests: SIGUSR1 cuts the node off from every peer (its
// connection gater refuses every connection, both ways) and SIGUSR2 lets
// it back. A partition of one process is otherwise out of a test's reach:
// SIGSTOP also silences its HTTP API and its clock, a kill loses its
// state in memory. Off unless asked for, so a stray signal never cuts a
// production node off.
const faultSignalsEnv = "DDS_FAULT_SIGNALS"

// isolator is the part of the node that fault signals drive.
type isolator interface{ SetIsolated(bool) }

// watchFaultSignals turns SIGUSR1 and SIGUSR2 into isolating and healing
// n until ctx ends; the returned stop waits for its goroutine.
func watchFaultSignals(ctx context.Context, n isolator, log *slog.Logger) (stop func()) {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sig:
				cut := s == syscall.SIGUSR1
				log.Warn("fault injected: partition", "isolated", cut)
				n.SetIsolated(cut)
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		<-done
	}
}
