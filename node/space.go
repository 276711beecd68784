package node

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	wal "github.com/hashicorp/raft-wal"

	"github.com/ddsnet/dds/chunk"
)

// A full disk. The node's chunks and its ledger share the data dir's file
// system; the chunk store keeps room there for its index and for the
// ledger (chunk.Options.Reserve, held as the store's ballast), so that
// the chunks the node takes (uploads, pushes from peers) can never leave
// the ledger without room. A full disk refuses uploads with
// ErrInsufficientStorage (507), and the node says so in /status, /info
// and the status feed (Free 0), so that peers place no copies on it;
// reads go on; space freed serves the next upload at once.

// ledgerSnapshotRoom is the least room kept for a ledger snapshot: raft
// writes a new snapshot whole before it deletes the one it replaces.
const ledgerSnapshotRoom = 16 << 20

// ledgerHeadroom is the room the node keeps free for its ledger on the
// data dir's file system: raft-wal allocates each new log segment whole
// when it opens it (wal.DefaultSegmentSize, 64 MiB: the node sets no other
// size), and a snapshot is written whole before the last one is deleted:
// the larger of the snapshots there now and ledgerSnapshotRoom. Without
// it a full disk fails the segment's allocation; raft then steps down,
// and its next election's term could not be saved (raft panics then).
func ledgerHeadroom(dataDir string) int64 {
	return int64(wal.DefaultSegmentSize) + max(ledgerSnapshotRoom, snapshotsSize(raftDir(dataDir)))
}

// snapshotsSize is the size of the largest snapshot file under dir.
func snapshotsSize(dir string) int64 {
	var largest int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(path, "snapshots") {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			largest = max(largest, fi.Size())
		}
		return nil
	})
	return largest
}

// free is the room this node has left for chunks: the smaller of what its
// capacity leaves and what its file system has beyond the room kept for
// its index and ledger.
func (n *Node) free() int64 {
	f := n.cfg.Capacity - n.store.Usage().Bytes
	sp, err := n.store.Space()
	if err != nil {
		n.log.Warn("free space of the data dir", "err", err)
	} else {
		f = min(f, sp.Free)
	}
	return max(f, 0)
}

// diskFull reports whether the data dir's file system has no room left
// for chunks (the capacity aside).
func (n *Node) diskFull() bool {
	sp, err := n.store.Space()
	return err == nil && sp.Full()
}

// noSpace turns a write that found the disk full (the chunk store's
// ErrNoSpace, or ENOSPC from elsewhere) into ErrInsufficientStorage, and
// has the chunks it may have left collected now rather than at the next
// GC tick: they hold space a full disk needs.
func (n *Node) noSpace(err error) error {
	if !errors.Is(err, chunk.ErrNoSpace) && !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
		return err
	}
	select {
	case n.gcKick <- struct{}{}:
	default:
	}
	return fmt.Errorf("%w: %w", ErrInsufficientStorage, err)
}
