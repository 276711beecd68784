package consensus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/boltdb/bolt"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/migrate"
)

// Files in Config.Dir.
const (
	walDir    = "wal"     // raft-wal: logs and stable state
	legacyDB  = "raft.db" // raft-boltdb, what earlier versions kept
	migrating = "wal.migrating"
)

// walStore is raft's log and stable store: raft-wal, whose Close leaves
// its meta database open (and locked), so it keeps that to close too.
type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

func openWAL(dir string, segmentSize int, log hclog.Logger) (*walStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	meta := &metadb.BoltMetaDB{}
	if segmentSize <= 0 {
		segmentSize = wal.DefaultSegmentSize
	}
	w, err := wal.Open(dir, wal.WithMetaStore(meta), wal.WithLogger(log.Named("wal")), wal.WithSegmentSize(segmentSize))
	if err != nil {
		return nil, errors.Join(err, meta.Close())
	}
	return &walStore{WAL: w, meta: meta}, nil
}

// Close closes the log, then its meta database.
func (s *walStore) Close() error {
	return errors.Join(s.WAL.Close(), s.meta.Close())
}

// openStore opens the raft log and stable store in dir: raft-wal, after
// moving the logs and stable state of an earlier version's raft-boltdb
// file into it.
func openStore(dir string, segmentSize int, log hclog.Logger) (*walStore, error) {
	if err := migrateLegacy(dir, log); err != nil {
		return nil, fmt.Errorf("move raft.db to raft-wal: %w", err)
	}
	return openWAL(filepath.Join(dir, walDir), segmentSize, log)
}

// migrateLegacy copies a raft.db into a new WAL next to it, renames the
// WAL into place and only then removes raft.db: a crash at any point
// leaves either raft.db alone (the copy starts over) or the WAL.
func migrateLegacy(dir string, log hclog.Logger) error {
	legacy := filepath.Join(dir, legacyDB)
	if _, err := os.Stat(legacy); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, walDir)); err == nil {
		// Moved already; the crash came before raft.db was removed.
		return os.Remove(legacy)
	}
	tmp := filepath.Join(dir, migrating)
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	src, err := raftboltdb.New(raftboltdb.Options{Path: legacy, BoltOptions: &bolt.Options{Timeout: boltOpenWait}})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openWAL(tmp, 0, log)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if last, err := src.LastIndex(); err != nil {
		dst.Close()
		return err
	} else if last > 0 {
		if err := migrate.CopyLogs(ctx, dst, src, 1<<20, nil); err != nil {
			dst.Close()
			return err
		}
	}
	if err := copyStable(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, walDir)); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	log.Info("moved the raft log from raft.db to raft-wal")
	return os.Remove(legacy)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// copyStable copies raft's stable state (its term and vote) that src
// holds: a raft.db of a node that never joined has none.
func copyStable(dst, src raft.StableStore) error {
	for _, k := range []string{"CurrentTerm", "LastVoteTerm"} {
		v, err := src.GetUint64([]byte(k))
		if errors.Is(err, raftboltdb.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", k, err)
		}
		if err := dst.SetUint64([]byte(k), v); err != nil {
			return fmt.Errorf("write %s: %w", k, err)
		}
	}
	v, err := src.Get([]byte("LastVoteCand"))
	if errors.Is(err, raftboltdb.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read LastVoteCand: %w", err)
	}
	return dst.Set([]byte("LastVoteCand"), v)
}
