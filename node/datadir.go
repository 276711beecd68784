package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/ddsnet/dds/p2p"
)

// A node whose data dir lost part of its state refuses to start, naming
// the file and what to do, rather than start as someone else: with a new
// identity it would be a stranger to its own ledger (and hang waiting for
// it), with a new billing token its payment processor's calls would fail
// without a word, and with an empty ledger beside its chunks it would
// found a network of its own, or collect every chunk as garbage.

// raftDir is where the node keeps its replica of the ledger.
func raftDir(dataDir string) string { return filepath.Join(dataDir, "raft") }

// ErrStateLost reports a data dir missing part of a member's state.
var ErrStateLost = errors.New("this node's state is incomplete")

// checkIdentity refuses a data dir that holds a ledger but lost the
// identity key or the billing token (none configured).
func checkIdentity(dataDir, configuredToken string) error {
	if !nonEmptyDir(raftDir(dataDir)) {
		return nil // a new node
	}
	if _, err := os.Stat(filepath.Join(dataDir, p2p.KeyFile)); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s holds a ledger (raft/) but no %s: the node's identity is lost, and with a new one it would be a stranger to its own ledger. "+
			"Restore %s from a backup; or, to start over as a new node, move the data dir aside and join with a new invite",
			ErrStateLost, dataDir, p2p.KeyFile, p2p.KeyFile)
	}
	if configuredToken == "" {
		if _, err := os.Stat(TokenFile(dataDir)); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s holds a ledger but no billing.token, and no token is given: a new one would break the payment processor's calls without a word. "+
				"Restore billing.token from a backup, or give the token the processor uses with DDS_BILLING_TOKEN",
				ErrStateLost, dataDir)
		}
	}
	return nil
}

// pinLister is the part of the chunk store checkLedger reads.
type pinLister interface {
	Pins(ctx context.Context, prefix string) (map[string]cid.Cid, error)
}

// checkLedger refuses a data dir whose store holds data (pins) while its
// ledger is gone: started so, a node would found a network of its own or
// collect every chunk as garbage.
func checkLedger(ctx context.Context, dataDir string, store pinLister) error {
	if nonEmptyDir(raftDir(dataDir)) {
		return nil
	}
	pins, err := store.Pins(ctx, "")
	if err != nil {
		return fmt.Errorf("list pins: %w", err)
	}
	if len(pins) == 0 {
		return nil // a new node, or one that never held anything
	}
	return fmt.Errorf("%w: %s holds %d pinned files (chunks/) but no ledger (raft/): the ledger was lost. "+
		"Started so, the node would take its chunks for garbage. Restore raft/ from a backup; or move chunks/ aside and start again, "+
		"and the node catches up with the network's ledger from its peers",
		ErrStateLost, dataDir, len(pins))
}

// nonEmptyDir reports whether dir exists and holds an entry.
func nonEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}
