package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/boltdb/bolt"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/migrate"
	"github.com/hashicorp/raft-wal/segment"
)

// Files in Config.Dir.
const (
	walDir    = "wal"     // raft-wal: logs and stable state
	legacyDB  = "raft.db" // raft-boltdb, what earlier versions kept
	migrating = "wal.migrating"
)

// walStore is raft's log and stable store: raft-wal, whose Close leaves
// its meta database open (and locked), so it keeps that to close too. Its
// segments are written through a lazyFS, lazy while the member is a
// non-voter.
type walStore struct {
	*wal.WAL
	meta  *metadb.BoltMetaDB
	files *lazyFS
	id    raft.ServerID             // this member's
	raft  atomic.Pointer[raft.Raft] // set once raft runs

	roleMu     sync.Mutex // orders appends with the log's turn to lazy
	lastConfig uint64     // the index of the last configuration entry appended
	mayBeLazy  bool       // the leader asks before a promotion (a VoterPreparer)
	pinned     bool       // asked to prepare for a promotion: durable from then on
	dir        string     // the WAL's, where the prepared marker lives
	marked     bool       // the prepared marker is on disk

	sumsFrom uint64 // the first index whose entry carries a checksum (see damage.go)
	// damaged, when set, hears of each damaged entry a read finds while
	// the member runs.
	damaged func(*DamageError)
}

// preparedMarker is a file in the WAL's directory that says the leader
// asked this member to prepare for a promotion that no committed
// configuration has shown yet: a member that restarts meanwhile stays
// durable. Without it, a restart in the moment between the preparation
// and the leader's AddVoter would let the log turn lazy again while the
// leader already counts its acknowledgements.
const preparedMarker = "prepared"

// pin makes the log durable for as long as the member runs, and after a
// restart until a committed configuration has it a voter.
func (s *walStore) pin() error {
	s.roleMu.Lock()
	defer s.roleMu.Unlock()
	s.pinned = true
	if err := s.files.durable(); err != nil {
		return err
	}
	if !s.marked {
		if err := writeSynced(filepath.Join(s.dir, preparedMarker)); err != nil {
			return fmt.Errorf("record the preparation for a promotion: %w", err)
		}
		s.marked = true
	}
	return nil
}

// writeSynced creates the empty file path and makes it and its directory
// entry durable.
func writeSynced(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func openWAL(dir string, segmentSize int, log hclog.Logger) (*walStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	meta := &metadb.BoltMetaDB{}
	if segmentSize <= 0 {
		segmentSize = wal.DefaultSegmentSize
	}
	files := newLazyFS()
	w, err := wal.Open(dir, wal.WithMetaStore(lazyMeta{BoltMetaDB: meta, fs: files}),
		wal.WithSegmentFiler(segment.NewFiler(dir, files)),
		wal.WithLogger(log.Named("wal")), wal.WithSegmentSize(segmentSize))
	if err != nil {
		return nil, errors.Join(err, meta.Close())
	}
	st := &walStore{WAL: w, meta: meta, files: files, dir: dir}
	if _, err := os.Stat(filepath.Join(dir, preparedMarker)); err == nil {
		st.pinned, st.marked = true, true
	}
	if st.sumsFrom, err = sumsFrom(w); err != nil {
		return nil, errors.Join(fmt.Errorf("read the first checksummed index: %w", err), st.Close())
	}
	return st, nil
}

// sumsFrom returns the first index whose entry carries a checksum,
// recording it when the log is opened by this version for the first time:
// the entries after its last one.
func sumsFrom(w *wal.WAL) (uint64, error) {
	raw, err := w.Get(sumsFromKey)
	if err != nil {
		return 0, err
	}
	if len(raw) == 8 {
		return binary.LittleEndian.Uint64(raw), nil
	}
	if len(raw) != 0 {
		return 0, fmt.Errorf("%d bytes, want 8", len(raw))
	}
	last, err := w.LastIndex()
	if err != nil {
		return 0, err
	}
	if err := w.SetUint64(sumsFromKey, last+1); err != nil {
		return 0, err
	}
	return last + 1, nil
}

// GetLog reads the entry at index and checks it against the checksum it
// was written with (see damage.go). A damaged entry is a [*DamageError];
// the first one found is also told to damaged, since raft takes some
// failed reads for a passing condition (and panics on others).
func (s *walStore) GetLog(index uint64, l *raft.Log) (err error) {
	defer func() {
		// raft-wal's decoder slices by what it reads: damaged bytes can
		// make it panic.
		if r := recover(); r != nil {
			err = s.damage(index, fmt.Errorf("the entry does not decode: %v", r))
		}
	}()
	if err := s.WAL.GetLog(index, l); err != nil {
		if errors.Is(err, raft.ErrLogNotFound) || errors.Is(err, wal.ErrClosed) {
			return err
		}
		return s.damage(index, fmt.Errorf("read: %w", err))
	}
	if err := unseal(index, s.sumsFrom, l); err != nil {
		return s.damage(index, err)
	}
	return nil
}

// damage makes err about entry index a *DamageError and tells damaged.
func (s *walStore) damage(index uint64, err error) error {
	d := &DamageError{Index: index, Dir: s.dir, Err: err}
	if s.damaged != nil {
		s.damaged(d)
	}
	return d
}

// verify reads every entry of the log, checking each: a member whose log
// is damaged must not start (raft would apply the entries before the
// damage, then panic, or replicate around it), so the damage is found
// before raft runs, and named.
func (s *walStore) verify() error {
	first, err := s.FirstIndex()
	if err != nil {
		return fmt.Errorf("read the log's first index: %w", err)
	}
	last, err := s.LastIndex()
	if err != nil {
		return fmt.Errorf("read the log's last index: %w", err)
	}
	if first == 0 {
		return nil
	}
	var l raft.Log
	for i := first; i <= last; i++ {
		if err := s.GetLog(i, &l); err != nil {
			var d *DamageError
			if !errors.As(err, &d) {
				d = &DamageError{Index: i, Dir: s.dir, Err: err} // missing between first and last
			}
			return d
		}
	}
	return nil
}

// Close fsyncs what the log put off, closes it, then its meta database.
func (s *walStore) Close() error {
	return errors.Join(s.files.flush(), s.WAL.Close(), s.meta.Close())
}

// StoreLogs appends logs. A lazy member that may count from these entries
// on (one of them, or the configuration raft holds now, makes it a voter)
// first fsyncs all it put off: every entry it acknowledges as a voter is on
// disk, and so is everything before it.
func (s *walStore) StoreLogs(logs []*raft.Log) error {
	s.roleMu.Lock()
	defer s.roleMu.Unlock()
	for _, l := range logs {
		if l.Type == raft.LogConfiguration {
			s.lastConfig = max(s.lastConfig, l.Index)
		}
	}
	if s.files.lazy.Load() && s.mayCount(logs) {
		if err := s.files.durable(); err != nil {
			return fmt.Errorf("sync the log before counting as a voter: %w", err)
		}
	}
	out := make([]*raft.Log, len(logs))
	for i, l := range logs {
		out[i] = sealed(l)
	}
	return s.WAL.StoreLogs(out)
}

func (s *walStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// noteCommitted makes the log lazy once the configuration committed at
// index has this member a non-voter, no later configuration entry has been
// appended (a promotion not yet committed) and the one raft holds agrees.
// A demotion not yet committed may still be undone, so it leaves the log
// durable. It runs under roleMu, so no append is between its look and its
// turn.
func (s *walStore) noteCommitted(index uint64, c raft.Configuration) {
	s.roleMu.Lock()
	defer s.roleMu.Unlock()
	if s.marked && isVoter(c, s.id) {
		// The promotion is committed: from the next start on, the usual
		// rules keep a voter's log durable.
		path := filepath.Join(s.dir, preparedMarker)
		if err := os.Remove(path); err == nil || errors.Is(err, os.ErrNotExist) {
			s.marked = syncDir(s.dir) != nil
		}
	}
	r := s.raft.Load()
	if !s.mayBeLazy || s.pinned || r == nil || index < s.lastConfig || isVoter(c, s.id) {
		return
	}
	cf := r.GetConfiguration()
	if cf.Error() == nil && !isVoter(cf.Configuration(), s.id) {
		s.files.setLazy()
	}
}

func (s *walStore) mayCount(logs []*raft.Log) bool {
	if votesIn(logs, s.id) {
		return true
	}
	r := s.raft.Load()
	if r == nil {
		return true
	}
	cf := r.GetConfiguration()
	return cf.Error() != nil || isVoter(cf.Configuration(), s.id)
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

// syncDir makes dir's entries durable.
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
