package testnet

import (
	"runtime"
	"testing"
)

// TestDaemonProcs: many daemons on few cores get fewer Ps each; a few
// keep the runtime's default, and so does a GOMAXPROCS the user set.
func TestDaemonProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	cores := runtime.GOMAXPROCS(0)
	if got := daemonProcs(1); got != 0 {
		t.Errorf("1 daemon: GOMAXPROCS %d, want the default", got)
	}
	if got := daemonProcs(4 * cores); got != 1 && cores > 1 {
		t.Errorf("%d daemons on %d cores: GOMAXPROCS %d, want 1", 4*cores, cores, got)
	}
	if got := daemonProcs(1000); got != 1 && cores > 1 {
		t.Errorf("1000 daemons: GOMAXPROCS %d, want 1", got)
	}
	t.Setenv("GOMAXPROCS", "3")
	if got := daemonProcs(1000); got != 0 {
		t.Errorf("GOMAXPROCS set: daemonProcs %d, want 0 (the environment's)", got)
	}
}
