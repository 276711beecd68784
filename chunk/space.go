package chunk

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A full file system. badger writes its memtable log (.mem), its value
// log (.vlog) and the tables it flushes and compacts (.sst) through
// memory maps of files it first extends with ftruncate: sparse files, whose
// blocks the file system allocates only when a page of the map is first
// written. On a full file system that write cannot fail with an error; the
// kernel raises SIGBUS and the Go runtime dies ("fatal error: fault",
// dgraph-io/badger#1682, #1801): on a write, on a memtable's flush (on
// Close too), and again on the replay of the next Open. The store never
// lets that happen through its own chunks, and keeps room for the rest:
//
//   - The store holds a ballast: a file of Options.Reserve plus
//     IndexHeadroom bytes, allocated (fallocate), the room the index and
//     the caller's own files (the node's ledger) may still need. Chunks
//     never take it.
//   - A chunk is written only while the file system's available space,
//     less the chunk writes under way, keeps the index's tables (a
//     compaction rewrites them before it deletes them) and a slack of
//     flushSlack free (ErrNoSpace otherwise), plus the ballast's size
//     while the ballast is not held.
//   - When the available space falls below the slack anyway (something
//     else filled the file system), the store deletes the ballast: the
//     index and the ledger then have its room. It does so at Open and
//     Close too, before badger replays or flushes. It takes the ballast
//     back once there is room for it again.
//   - It allocates the blocks of badger's memory-mapped logs as they
//     appear, so that the index's small writes land in blocks it has.

// SpaceInterval is how often the store looks at its file system's free
// space by itself: to say when it became full and when space came back
// (a chunk write looks each time, so space freed serves the next write
// at once), and to allocate badger's new log files.
const SpaceInterval = 2 * time.Second

// discardFileSize is the size of badger's DISCARD file (discard.go),
// memory-mapped like its logs.
const discardFileSize = 1 << 20

// IndexHeadroom is the room, in bytes, that the index (badger) with
// options o may take beyond the tables it holds, which the store's
// ballast keeps for it:
//
//   - memtable logs: the one in use and the immutable ones waiting for
//     their flush (indexMemtables of them), each filled to MemTableSize
//     before badger rotates it, plus one new one;
//   - the tables their flushes write (about a memtable each, uncompressed);
//   - the value log's file in use, made twice ValueLogFileSize;
//   - the DISCARD file.
//
// A compaction writes its tables before it deletes the ones it merges: at
// most the whole tree once (the store's compactor flattens the tree),
// which the store keeps free beside the ballast as the tree grows
// (Space.Reserve). With DefaultOptions it is 4 MiB × 3 + 4 MiB × 2 +
// 32 MiB + 1 MiB = 53 MiB.
func IndexHeadroom(o Options) int64 {
	o = o.withDefaults()
	if o.InMemory {
		return 0
	}
	logs := (indexMemtables + 1) * o.MemTableSize
	flushes := indexMemtables * o.MemTableSize
	vlog := 2 * o.ValueLogFileSize
	return logs + flushes + vlog + discardFileSize
}

// flushSlack is the room the store keeps free beside its ballast: what
// badger may write between two looks at the file system (a new memtable
// log and the flush of the one before, made while another fills), so
// that the ballast is released before the index is short of room.
func flushSlack(o Options) int64 { return (indexMemtables + 1) * o.MemTableSize }

// ballastFile is the ballast's name in Options.Dir.
const ballastFile = "ballast"

// Space is the room on the store's file system.
type Space struct {
	// Total and Avail are the file system's size and the bytes an
	// unprivileged writer may still use (statfs' f_blocks and f_bavail).
	Total int64
	Avail int64
	// Reserve is what the store keeps free of chunks for the index and the
	// caller's own files, beyond its ballast: the index's tables (a
	// compaction's rewrite), a slack for the index's next writes, and
	// the ballast's size while the ballast is not held.
	Reserve int64
	// Ballast is the size of the ballast held now (0 when released):
	// room kept for the index and the caller's files, not in Avail.
	Ballast int64
	// Free is what chunks may still take: Avail less Reserve and the
	// chunk writes under way; never negative.
	Free int64
}

// Full reports whether the file system has no room left for chunks.
func (sp Space) Full() bool { return sp.Free <= 0 }

// noSpace marks an error of a write that found the file system (or the
// user's quota) full with ErrNoSpace, keeping the cause.
func noSpace(err error) error {
	if err != nil && !errors.Is(err, ErrNoSpace) && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// space watches the store's file system: statfs on demand and each
// SpaceInterval, the bytes of chunk writes under way, and the ballast.
type space struct {
	dir     string
	ballast int64 // its size when held: Options.Reserve + IndexHeadroom
	// noBallast: the ballast is never allocated (Options.NoBallast); its
	// room is kept free all the same.
	noBallast bool
	slack     int64 // flushSlack
	log       *slog.Logger
	db        *badger.DB

	mu      sync.Mutex // orders claims (each sees the others' bytes) and the ballast's changes
	writing int64      // bytes claimed by chunk writes under way
	held    int64      // the ballast's allocated size

	tables atomic.Int64 // the index's tables, bytes, as of the last look
	full   atomic.Bool  // as of the last look, to log changes once

	stop chan struct{}
	done chan struct{}
}

// prepareSpace releases the ballast in dir when the file system has less
// than the slack free: badger's Open may replay and flush memtables.
func prepareSpace(o Options) error {
	_, avail, err := statfs(o.Dir)
	if err != nil {
		return fmt.Errorf("statfs %s: %w", o.Dir, err)
	}
	if avail >= flushSlack(o) {
		return nil
	}
	err = os.Remove(filepath.Join(o.Dir, ballastFile))
	if err == nil {
		o.Logger.Warn("chunk store's file system is full: ballast released for the index", "avail", avail)
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func newSpace(o Options, db *badger.DB, log *slog.Logger) *space {
	sp := &space{dir: o.Dir, ballast: o.Reserve + IndexHeadroom(o), slack: flushSlack(o), db: db, log: log, noBallast: o.NoBallast}
	if fi, err := os.Stat(sp.ballastPath()); err == nil {
		sp.held = fi.Size()
	}
	sp.measureTables()
	sp.mu.Lock()
	sp.holdBallast()
	sp.mu.Unlock()
	return sp
}

func (sp *space) ballastPath() string { return filepath.Join(sp.dir, ballastFile) }

// start begins the periodic looks; close ends them, releasing the ballast
// if the file system is short of room, so that the index's last flush has
// it.
func (sp *space) start() {
	sp.stop = make(chan struct{})
	sp.done = make(chan struct{})
	go func() {
		defer close(sp.done)
		t := time.NewTicker(SpaceInterval)
		defer t.Stop()
		for {
			select {
			case <-sp.stop:
				return
			case <-t.C:
			}
			sp.tick()
		}
	}()
}

func (sp *space) close() {
	if sp.stop != nil {
		close(sp.stop)
		<-sp.done
	}
	if _, err := sp.get(); err != nil {
		sp.log.Warn("statfs of the chunk store", "err", err)
	}
}

// tick is the periodic look: the index's size, its new log files'
// blocks, the ballast, and whether the file system became full or has
// room again.
func (sp *space) tick() {
	sp.measureTables()
	if err := allocateLogs(filepath.Join(sp.dir, indexDir)); err != nil {
		sp.log.Warn("allocate the index's log files", "err", err)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if _, err := sp.getLocked(); err != nil {
		sp.log.Warn("statfs of the chunk store", "err", err)
		return
	}
	sp.holdBallast()
}

func (sp *space) measureTables() {
	var n int64
	for _, l := range sp.db.Levels() {
		n += l.Size
	}
	sp.tables.Store(n)
}

// holdBallast allocates the ballast when it is not held and the file
// system has room for it and the rest of the reserve.
func (sp *space) holdBallast() {
	if sp.noBallast || sp.held >= sp.ballast {
		return
	}
	_, avail, err := statfs(sp.dir)
	if err != nil || avail < sp.ballast-sp.held+sp.slack+sp.tables.Load() {
		return
	}
	if err := allocate(sp.ballastPath(), sp.ballast); err != nil {
		sp.log.Warn("allocate the chunk store's ballast", "err", err)
		_ = os.Remove(sp.ballastPath())
		sp.held = 0
		return
	}
	sp.held = sp.ballast
}

// get returns the space now.
func (sp *space) get() (Space, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.getLocked()
}

// getLocked looks at the file system, releasing the ballast when less
// than the slack is left.
func (sp *space) getLocked() (Space, error) {
	total, avail, err := statfs(sp.dir)
	if err != nil {
		return Space{}, fmt.Errorf("statfs %s: %w", sp.dir, err)
	}
	if sp.held > 0 && avail < sp.slack {
		if err := os.Remove(sp.ballastPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return Space{}, fmt.Errorf("release the ballast: %w", err)
		}
		sp.log.Warn("chunk store's file system is full: ballast released for the index and the ledger", "avail", avail, "ballast", sp.held)
		sp.held = 0
		if total, avail, err = statfs(sp.dir); err != nil {
			return Space{}, fmt.Errorf("statfs %s: %w", sp.dir, err)
		}
	}
	s := Space{Total: total, Avail: avail, Ballast: sp.held, Reserve: sp.tables.Load() + sp.slack + sp.ballast - sp.held}
	s.Free = max(0, avail-s.Reserve-sp.writing)
	if full := s.Full(); sp.full.Swap(full) != full {
		if full {
			sp.log.Warn("chunk store's file system is full: chunk writes refused", "avail", avail, "reserve", s.Reserve)
		} else {
			sp.log.Info("chunk store's file system has room again", "free", s.Free)
		}
	}
	return s, nil
}

// claim reserves n bytes for a chunk write, or fails with ErrNoSpace when
// the file system has not that much room beyond the reserve. release
// gives the bytes back once the write is done (or failed): from then on
// statfs counts them, or they are free again.
func (sp *space) claim(n int64) (release func(), err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	s, err := sp.getLocked()
	if err != nil {
		return nil, err
	}
	if s.Free < n {
		return nil, fmt.Errorf("%w: %d bytes to write, %d free beyond the %d kept for the index and the ledger", ErrNoSpace, n, s.Free, s.Reserve+s.Ballast)
	}
	sp.writing += n
	var once sync.Once
	return func() {
		once.Do(func() {
			sp.mu.Lock()
			sp.writing -= n
			sp.mu.Unlock()
		})
	}, nil
}

// allocateLogs allocates the blocks of badger's memory-mapped log files
// in dir (.mem, .vlog) that are still sparse, without changing their size:
// a write through their maps then needs no new block, and cannot fault on
// a full file system. A file system that cannot (no fallocate) is left
// as it is; the reserve still keeps room for them.
func allocateLogs(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".mem") || strings.HasSuffix(name, ".vlog")) {
			continue
		}
		if err := allocateFile(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, noSpace(err))
		}
	}
	return errors.Join(errs...)
}
