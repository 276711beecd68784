package consensus

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/types"
)

// lazyFlush is how long a non-voter's log may go without an fsync while it
// is written to.
const lazyFlush = time.Second

// lazyFS is raft-wal's file system with fsyncs that a member whose log
// counts for nothing may put off. A non-voter's acknowledgements commit
// nothing and it never votes, so what a power cut takes from its log tail
// it simply fetches again from the leader; fsyncing every append on every
// non-voter only made the network's many replicas fight the voters for
// the disk. Lazy, a file's Sync is put off (done at most every lazyFlush,
// before the WAL's metadata commits, when the file closes, and for every
// file at once when the member becomes durable again); durable, it is
// raft-wal's own. A member starts durable. It turns lazy only when the
// leader will ask it to prepare before promoting it (its Forwarder is a
// VoterPreparer) and a committed configuration has it a non-voter (see
// walStore.noteCommitted). The leader's request (Ledger.PrepareVoter)
// makes it durable for good, before the promotion (a marker file keeps it
// so across a restart until the promotion is committed): the leader counts a
// new voter's acknowledgements, in flight ones too, from the moment the
// promotion is in its own log. walStore also makes it durable before it
// stores an entry that could count (see walStore.StoreLogs).
type lazyFS struct {
	*fs.FS
	lazy atomic.Bool

	mu       sync.Mutex
	dirty    map[*lazyFile]struct{} // written since their last fsync
	lastSync time.Time
}

func newLazyFS() *lazyFS {
	return &lazyFS{FS: fs.New(), dirty: map[*lazyFile]struct{}{}}
}

func (l *lazyFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	f, err := l.FS.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	return &lazyFile{WritableFile: f, fs: l}, nil
}

func (l *lazyFS) OpenWriter(dir, name string) (types.WritableFile, error) {
	f, err := l.FS.OpenWriter(dir, name)
	if err != nil {
		return nil, err
	}
	return &lazyFile{WritableFile: f, fs: l}, nil
}

// setLazy puts fsyncs off from now on.
func (l *lazyFS) setLazy() { l.lazy.Store(true) }

// durable makes every later Sync an fsync again and fsyncs what was put
// off, before it returns.
func (l *lazyFS) durable() error {
	l.lazy.Store(false)
	return l.flush()
}

// flush fsyncs every file written since its last fsync.
func (l *lazyFS) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for f := range l.dirty {
		if err := f.WritableFile.Sync(); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(l.dirty, f)
	}
	l.lastSync = time.Now()
	return errors.Join(errs...)
}

// lazyFile is a segment file of a lazyFS.
type lazyFile struct {
	types.WritableFile
	fs *lazyFS
}

// Sync fsyncs the file unless its file system is lazy; a lazy one fsyncs
// what was put off once lazyFlush has passed since it last did.
func (f *lazyFile) Sync() error {
	if !f.fs.lazy.Load() {
		f.fs.mu.Lock()
		delete(f.fs.dirty, f)
		f.fs.mu.Unlock()
		return f.WritableFile.Sync()
	}
	f.fs.mu.Lock()
	f.fs.dirty[f] = struct{}{}
	due := time.Since(f.fs.lastSync) >= lazyFlush
	f.fs.mu.Unlock()
	if due {
		return f.fs.flush()
	}
	return nil
}

// Close fsyncs what was put off before it closes the file.
func (f *lazyFile) Close() error {
	f.fs.mu.Lock()
	_, dirty := f.fs.dirty[f]
	delete(f.fs.dirty, f)
	f.fs.mu.Unlock()
	var err error
	if dirty {
		err = f.WritableFile.Sync()
	}
	return errors.Join(err, f.WritableFile.Close())
}

// lazyMeta is raft-wal's metadata store, which fsyncs the segments written
// so far before it records them (a segment sealed in the metadata is on
// disk whole, lazy or not).
type lazyMeta struct {
	*metadb.BoltMetaDB
	fs *lazyFS
}

func (m lazyMeta) CommitState(s types.PersistentState) error {
	if err := m.fs.flush(); err != nil {
		return err
	}
	return m.BoltMetaDB.CommitState(s)
}

// votesIn reports whether id is a voter of a configuration entry among
// logs.
func votesIn(logs []*raft.Log, id raft.ServerID) bool {
	for _, l := range logs {
		if l.Type == raft.LogConfiguration && isVoter(raft.DecodeConfiguration(l.Data), id) {
			return true
		}
	}
	return false
}

// isVoter reports whether id is a voter of c.
func isVoter(c raft.Configuration, id raft.ServerID) bool {
	s, ok := suffrageOf(c, id)
	return ok && s == raft.Voter
}

// suffrageOf is id's suffrage in c, and whether c has id.
func suffrageOf(c raft.Configuration, id raft.ServerID) (raft.ServerSuffrage, bool) {
	for _, s := range c.Servers {
		if s.ID == id {
			return s.Suffrage, true
		}
	}
	return 0, false
}
