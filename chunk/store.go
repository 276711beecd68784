package chunk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/ipfs/go-cid"
	"golang.org/x/sync/semaphore"
)

// Key prefixes: every record kind has its own namespace.
var (
	pfxChunk    = []byte("c/") // c/<cid> -> bytes of a chunk kept inline (smaller than InlineSize)
	pfxRecord   = []byte("r/") // r/<cid> -> uvarint size, uvarint refs, location byte
	pfxManifest = []byte("m/") // m/<cid> -> canonical manifest bytes
	pfxPin      = []byte("p/") // p/<owner> -> root cid bytes
	pfxIntent   = []byte("i/") // i/<owner> -> pin intent (see pin.go)
	pfxMeta     = []byte("x/") // x/<key> -> node's records
)

func dbKey(prefix []byte, id []byte) []byte {
	k := make([]byte, 0, len(prefix)+len(id))
	return append(append(k, prefix...), id...)
}

// Options configure a [Store]. Zero tuning fields take the values of
// [DefaultOptions].
type Options struct {
	Dir      string
	Logger   *slog.Logger // badger's logger is routed into it (badger's Infof at Debug level)
	InMemory bool         // everything in memory (badger in-memory mode, chunks inline), for tests of other packages only

	// InlineSize: chunks smaller than this many bytes are kept in the index
	// (one synced commit) rather than in a file of their own (a file,
	// its sync and its directory's sync). Negative: every chunk in a file.
	InlineSize int64

	// MemTableSize is the index's (badger's) memtable size. The index holds
	// small values only: chunk records, inline chunks, manifests, pins.
	MemTableSize int64
	// ValueThreshold: index values at least this large (large manifests)
	// go to badger's value log.
	ValueThreshold int64
	// BlockCacheSize and IndexCacheSize bound badger's caches of LSM blocks
	// and table indexes.
	BlockCacheSize int64
	IndexCacheSize int64
	// ValueLogFileSize is the size of one of badger's value log files.
	ValueLogFileSize int64
	// NumCompactors is badger's number of compaction goroutines: 0 (the
	// default; less than 2 counts as 0) has the store compact the index
	// itself when writes fill level 0, and no goroutine polls an idle
	// index (see compact.go); 2 or more runs badger's own compactors.
	NumCompactors int
	// Workers is the number of goroutines that hash, write and sync chunks
	// in one Ingest (several, so that syncs overlap with hashing); an
	// Ingest holds Workers+2 chunks in memory at most.
	Workers int
	// BufferMemory bounds the bytes of chunk buffers all ingests together
	// hold: past it an ingest goes on with the buffers it has, or waits
	// for one. Uploads trickling in hold none (see ingest.run), so it is
	// fast uploads that share it.
	BufferMemory int64
	// ReadAhead is the number of chunks a reader from NewReader keeps in
	// flight ahead of the one being read.
	ReadAhead int
	// ReadAheadMemory bounds the bytes of the chunks all readers together
	// fetch ahead: a reader always has the chunk it reads and the next
	// one, and fetches the others of its ReadAhead only while the budget
	// has room.
	ReadAheadMemory int64
	// Reserve is the room, in bytes, the store leaves free on its file
	// system for the caller's own files there (the node's ledger), on top
	// of what it keeps for its index (see Space): chunk writes that would
	// take it fail with ErrNoSpace.
	Reserve int64
	// NoBallast keeps the reserve free without holding it as an allocated
	// file (see Space): chunk writes still stop short of it, but another
	// program that fills the file system takes it. For test stores, of
	// which a test may open dozens (the ballast is over 50 MiB of disk
	// each).
	NoBallast bool
}

// DefaultOptions returns options tuned for 1 MiB chunks and a small
// resident set: chunks in files, a small index with small memtables and
// caches, no compression.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:              dir,
		InlineSize:       4 << 10,
		MemTableSize:     4 << 20,
		ValueThreshold:   64 << 10,
		BlockCacheSize:   4 << 20,
		IndexCacheSize:   2 << 20,
		ValueLogFileSize: 16 << 20,
		NumCompactors:    0,
		Workers:          max(4, 2*runtime.GOMAXPROCS(0)),
		ReadAhead:        4,
		// Both budgets are what keeps a node within its RSS target when
		// clients upload or download in parallel (aws-cli: 10 parts or
		// ranges at once; the heap then grows to about twice what is live
		// before a GC). One upload holds Workers+2 chunks and one reader
		// ReadAhead+2, so a single stream never waits for either.
		BufferMemory:    32 << 20,
		ReadAheadMemory: 16 << 20,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions(o.Dir)
	if o.InlineSize == 0 {
		o.InlineSize = d.InlineSize
	}
	if o.InMemory {
		o.InlineSize = MaxChunkSize + 1
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = d.MemTableSize
	}
	if o.ValueThreshold <= 0 {
		o.ValueThreshold = d.ValueThreshold
	}
	if o.BlockCacheSize <= 0 {
		o.BlockCacheSize = d.BlockCacheSize
	}
	if o.IndexCacheSize <= 0 {
		o.IndexCacheSize = d.IndexCacheSize
	}
	if o.ValueLogFileSize <= 0 {
		o.ValueLogFileSize = d.ValueLogFileSize
	}
	if o.NumCompactors < 2 {
		o.NumCompactors = 0
	}
	if o.Workers <= 0 {
		o.Workers = d.Workers
	}
	if o.BufferMemory <= 0 {
		o.BufferMemory = d.BufferMemory
	}
	if o.ReadAhead <= 0 {
		o.ReadAhead = d.ReadAhead
	}
	if o.ReadAheadMemory <= 0 {
		o.ReadAheadMemory = d.ReadAheadMemory
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) badger() badger.Options {
	bo := badger.DefaultOptions(filepath.Join(o.Dir, indexDir)).
		WithLogger(badgerLogger{o.Logger}).
		WithSyncWrites(true). // every commit durable; badger syncs concurrent commits together

		WithNumVersionsToKeep(1).
		WithCompression(options.None).
		WithDetectConflicts(false). // Store serializes the read-modify-writes itself
		WithMetricsEnabled(false).
		WithNumGoroutines(2).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(indexMemtables).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithValueThreshold(o.ValueThreshold).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithNumCompactors(o.NumCompactors)
	if o.NumCompactors == 0 {
		bo = bo.WithNumLevelZeroTablesStall(compactStall)
	}
	if o.InMemory {
		bo = bo.WithInMemory(true).WithDir("").WithValueDir("").WithSyncWrites(false)
	}
	return bo
}

// indexMemtables is the number of memtables badger keeps: the one
// written and the immutable ones waiting for their flush.
const indexMemtables = 2

// Store is the node's content-addressed chunk store on badger: chunks
// stored once with a reference count, manifests, pins, and small metadata
// records. All methods are safe for concurrent use.
type Store struct {
	db     *badger.DB
	blocks *blocks // nil in memory
	space  *space  // nil in memory
	// buffers is the budget of chunk buffers of all ingests
	// (Options.BufferMemory).
	buffers *semaphore.Weighted
	// readAhead is the budget of the chunks readers fetch ahead
	// (Options.ReadAheadMemory).
	readAhead *semaphore.Weighted
	opts      Options
	log       *slog.Logger

	ctx    context.Context // cancelled by Close; long operations stop with it
	cancel context.CancelFunc

	mu     sync.RWMutex // read-held by every operation; Close takes it to close db
	closed bool

	pinMu      sync.Mutex     // serializes pin changes and GC (reference counts)
	pinq       chan *pinOp    // small pin changes for the committer
	commitStop chan struct{}  // closed by Close: the committer returns
	commitDone chan struct{}  // closed by the committer as it returns
	writeMu    sync.RWMutex   // read-held by every write, write-held by GC deletions and flushes
	compactor  *compactor     // nil when badger's own compactors run
	stripes    [64]sync.Mutex // one writer per chunk CID at a time

	holdMu sync.Mutex
	holds  map[cid.Cid]int // CIDs GC must keep: in-flight ingests and Hold

	corruptMu sync.Mutex
	corrupt   map[cid.Cid]struct{} // chunks seen failing verification; Put rewrites them

	chunks atomic.Int64 // Usage
	bytes  atomic.Int64

	// swept is false until a GC has removed the files a crash (or a failed
	// commit) may have left without a record.
	swept atomic.Bool
}

// Subdirectories of Options.Dir.
const (
	indexDir  = "index"  // badger
	blocksDir = "blocks" // chunk files
)

// Open opens (or creates) the store in opts.Dir, finishes or rolls back any
// pin interrupted by a crash, and computes the usage figures.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if !opts.InMemory && opts.Dir == "" {
		return nil, errors.New("open chunk store: no directory")
	}
	var blk *blocks
	if !opts.InMemory {
		if err := removeEmptyLogs(filepath.Join(opts.Dir, indexDir), opts.Logger); err != nil {
			return nil, fmt.Errorf("open chunk store: %w", err)
		}
		indexLost := !hasEntries(filepath.Join(opts.Dir, indexDir))
		var err error
		if blk, err = openBlocks(filepath.Join(opts.Dir, blocksDir)); err != nil {
			return nil, fmt.Errorf("open chunk store: %w", err)
		}
		if indexLost {
			if err := checkOrphans(opts.Dir, blk); err != nil {
				return nil, fmt.Errorf("open chunk store: %w", err)
			}
		}
		if err := prepareSpace(opts); err != nil {
			return nil, fmt.Errorf("open chunk store: %w", err)
		}
	}
	db, err := badger.Open(opts.badger())
	if err != nil {
		return nil, fmt.Errorf("open chunk store: %w", noSpace(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		db:        db,
		blocks:    blk,
		buffers:   semaphore.NewWeighted(opts.BufferMemory),
		readAhead: semaphore.NewWeighted(opts.ReadAheadMemory),
		opts:      opts,
		log:       opts.Logger,
		ctx:       ctx,
		cancel:    cancel,
		holds:     make(map[cid.Cid]int),
		corrupt:   make(map[cid.Cid]struct{}),
	}
	s.swept.Store(opts.InMemory)
	if !opts.InMemory {
		if err := allocateLogs(filepath.Join(opts.Dir, indexDir)); err != nil {
			s.log.Warn("allocate the index's log files", "err", err)
		}
		s.space = newSpace(opts, db, s.log)
	}
	if err := s.recoverIntents(); err != nil {
		cancel()
		return nil, errors.Join(fmt.Errorf("open chunk store: recover: %w", err), db.Close())
	}
	if err := s.loadUsage(); err != nil {
		cancel()
		return nil, errors.Join(fmt.Errorf("open chunk store: usage: %w", err), db.Close())
	}
	s.pinq = make(chan *pinOp, groupOps)
	s.commitStop = make(chan struct{})
	s.commitDone = make(chan struct{})
	if blk != nil {
		blk.startSyncer(s.log)
	}
	if s.space != nil {
		s.space.start()
	}
	if opts.NumCompactors == 0 {
		s.compactor = startCompactor(db, s.log)
	}
	go s.commitLoop()
	return s, nil
}

// checkOrphans refuses a store whose index is gone (missing or empty)
// while chunk files remain. A new index would record none of them, and
// the first GC would delete every one as a crash's leftover (it did, within
// 75 s of a start). The index cannot be rebuilt from the files: it also
// held the manifests, the chunks under InlineSize (the files' tails) and
// the pins, which the files do not tell. So the store refuses, naming the
// directories and what to do.
func checkOrphans(dir string, blk *blocks) error {
	files := 0
	for shard := range numShards {
		if !blk.made[shard].Load() {
			continue
		}
		fs, err := blk.walk(shard)
		if err != nil {
			return fmt.Errorf("list chunk files: %w", err)
		}
		for _, f := range fs {
			if f.c.Defined() {
				files++
			}
		}
	}
	if files == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s holds %d chunk files but %s is missing or empty: "+
		"the index that records them, with the files' manifests, small chunks and pins, is gone, "+
		"and started so the store would delete every chunk as garbage. "+
		"Restore %s from a backup; or move %s aside and start again with an empty store "+
		"(the network's audits then find this node's copies missing and place them on other holders)",
		ErrIndexLost, filepath.Join(dir, blocksDir), files, filepath.Join(dir, indexDir),
		filepath.Join(dir, indexDir), dir)
}

// hasEntries reports whether dir exists and holds an entry.
func hasEntries(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}

// removeEmptyLogs deletes the empty memtable WAL and value-log files a
// crash can leave between a file's creation and its first write: badger
// v4.9 refuses to open a directory holding one (dgraph-io/badger#2207).
// An empty file holds no entries, so removing it loses nothing.
func removeEmptyLogs(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".mem") || strings.HasSuffix(name, ".vlog")) {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() != 0 {
			continue
		}
		log.Warn("removing empty log file left by a crash", "file", name)
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// Close cancels running operations, waits for them to return and closes
// the database; later calls return ErrClosed. An Ingest blocked in its
// reader's Read returns only once the reader does (an HTTP server closes
// request bodies on shutdown). Close is idempotent.
func (s *Store) Close() error {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// No operation runs now (each holds mu), so no pin change waits.
	close(s.commitStop)
	<-s.commitDone
	if s.blocks != nil {
		s.blocks.stopSyncer()
	}
	if s.space != nil {
		s.space.close()
	}
	if s.compactor != nil {
		s.compactor.close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close chunk store: %w", err)
	}
	return nil
}

// acquire guards an operation against Close; release must follow.
func (s *Store) acquire() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) release() { s.mu.RUnlock() }

// opContext returns ctx, also cancelled when the store closes.
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// ctxErr returns ctx's error, or ErrClosed when the store closed.
func (s *Store) ctxErr(ctx context.Context) error {
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	return ctx.Err()
}

// update runs fn in a read-write transaction. Every write of the store
// goes through writeMu (read-held), so that GC can exclude writers while
// it deletes a batch or while badger blocks writes to flush its memtables.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	s.writeMu.RLock()
	defer s.writeMu.RUnlock()
	defer s.wrote()
	return s.db.Update(fn)
}

// wrote tells the index's compactor (if the store runs one) that the
// index was written to.
func (s *Store) wrote() {
	if s.compactor != nil {
		s.compactor.poke()
	}
}

// record is the small per-chunk record kept in the index: the chunk's
// size, the number of pins whose manifest references it (a chunk counts
// once per pinned manifest, however often the manifest lists it), and
// where its bytes are.
type record struct {
	size   int64
	refs   int64
	inline bool // bytes under c/<cid> in the index, not in a file
}

func (r record) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(r.size))
	b = binary.AppendUvarint(b, uint64(r.refs))
	if r.inline {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeRecord(b []byte) (record, error) {
	bad := errors.New("bad chunk record")
	size, n := binary.Uvarint(b)
	if n <= 0 {
		return record{}, bad
	}
	refs, m := binary.Uvarint(b[n:])
	if m <= 0 || n+m != len(b)-1 || b[n+m] > 1 {
		return record{}, bad
	}
	return record{size: int64(size), refs: int64(refs), inline: b[n+m] == 1}, nil
}

// getRecord reads c's record; ok is false when there is none.
func getRecord(txn *badger.Txn, c cid.Cid) (rec record, ok bool, err error) {
	item, err := txn.Get(dbKey(pfxRecord, c.Bytes()))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, err
	}
	err = item.Value(func(v []byte) error {
		rec, err = decodeRecord(v)
		return err
	})
	if err != nil {
		return record{}, false, fmt.Errorf("chunk %s: %w", c, err)
	}
	return rec, true, nil
}

func (s *Store) loadUsage() error {
	var chunks, bytes int64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfxRecord, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var rec record
			err := it.Item().Value(func(v []byte) error {
				var err error
				rec, err = decodeRecord(v)
				return err
			})
			if err != nil {
				return err
			}
			chunks++
			bytes += rec.size
		}
		return nil
	})
	s.chunks.Store(chunks)
	s.bytes.Store(bytes)
	return err
}

// Space returns the room on the store's file system now (a statfs):
// what chunks may still take, and what the store keeps free beside them.
// A store in memory has no bound.
func (s *Store) Space() (Space, error) {
	if s.space == nil {
		return Space{Total: math.MaxInt64, Avail: math.MaxInt64, Free: math.MaxInt64}, nil
	}
	return s.space.get()
}

// Usage counts the distinct chunks stored and their bytes.
type Usage struct {
	Chunks int64
	Bytes  int64
}

// Usage returns the distinct chunks stored and their bytes, pinned or not.
// It is kept up to date in memory and costs nothing.
func (s *Store) Usage() Usage {
	return Usage{Chunks: s.chunks.Load(), Bytes: s.bytes.Load()}
}

// Hold keeps the given chunks and manifests from GC until release is
// called, for a caller that stores chunks with Put and pins them later
// (replication). Ingest holds its own chunks. release is idempotent.
func (s *Store) Hold(cids ...cid.Cid) (release func()) {
	cids = append([]cid.Cid(nil), cids...)
	s.hold(cids...)
	var once sync.Once
	return func() { once.Do(func() { s.unhold(cids...) }) }
}

func (s *Store) hold(cids ...cid.Cid) {
	s.holdMu.Lock()
	for _, c := range cids {
		s.holds[c]++
	}
	s.holdMu.Unlock()
}

func (s *Store) unhold(cids ...cid.Cid) {
	s.holdMu.Lock()
	for _, c := range cids {
		if n := s.holds[c]; n > 1 {
			s.holds[c] = n - 1
		} else {
			delete(s.holds, c)
		}
	}
	s.holdMu.Unlock()
}

func (s *Store) isCorrupt(c cid.Cid) bool {
	s.corruptMu.Lock()
	defer s.corruptMu.Unlock()
	_, ok := s.corrupt[c]
	return ok
}

func (s *Store) setCorrupt(c cid.Cid, bad bool) {
	s.corruptMu.Lock()
	if bad {
		s.corrupt[c] = struct{}{}
	} else {
		delete(s.corrupt, c)
	}
	s.corruptMu.Unlock()
}

func (s *Store) stripe(k []byte) *sync.Mutex {
	return &s.stripes[int(k[len(k)-1])%len(s.stripes)]
}

// Put stores one chunk after verifying data against c. Storing a chunk
// that is already present is a no-op (unless its stored bytes were found
// corrupt, which Put repairs). A chunk stored by Put is garbage for GC until
// a pin references it; see [Store.Hold]. A c with codec dag-cbor stores a
// manifest instead, as [Store.PutManifest] does.
func (s *Store) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := Verify(c, data); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if c.Type() == codecDagCBOR {
		m, err := DecodeManifest(data)
		if err != nil {
			return fmt.Errorf("put %s: %w", c, err)
		}
		_, err = s.PutManifest(ctx, m)
		return err
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return err
	}
	return s.putChunk(c, data)
}

// putChunk stores a verified chunk unless it is already stored intact:
// small chunks inline in the index, others in a synced file renamed into
// place, then its record. A stored chunk is intact unless a read found it
// corrupt or its file is missing or of the wrong size; putChunk rewrites
// it then (a repair).
func (s *Store) putChunk(c cid.Cid, data []byte) error {
	id := c.Bytes()
	s.writeMu.RLock()
	defer s.writeMu.RUnlock()
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()

	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	rec, exists, err := getRecord(txn, c)
	if err != nil {
		return fmt.Errorf("put %s: %w", c, err)
	}
	inline := exists && rec.inline || !exists && int64(len(data)) < s.opts.InlineSize
	repair := exists && s.isCorrupt(c)
	if exists && !repair && !inline {
		size, err := s.blocks.stat(c)
		if err != nil {
			return fmt.Errorf("put %s: %w", c, err)
		}
		repair = size != rec.size
	}
	if exists && !repair {
		return nil
	}
	if s.space != nil {
		release, err := s.space.claim(int64(len(data)))
		if err != nil {
			return fmt.Errorf("put %s: %w", c, err)
		}
		defer release()
	}
	if inline {
		if err := txn.Set(dbKey(pfxChunk, id), data); err != nil {
			return fmt.Errorf("put %s: %w", c, err)
		}
	} else if err := s.blocks.write(c, data); err != nil {
		return fmt.Errorf("put %s: write: %w", c, noSpace(err))
	}
	if !exists {
		rec = record{size: int64(len(data)), inline: inline}
		if err := txn.Set(dbKey(pfxRecord, id), rec.encode()); err != nil {
			return fmt.Errorf("put %s: %w", c, err)
		}
	}
	if inline || !exists {
		defer s.wrote()
		if err := txn.Commit(); err != nil {
			if !inline {
				s.swept.Store(false) // the file may stay without a record
			}
			return fmt.Errorf("put %s: %w", c, noSpace(err))
		}
	}
	if repair {
		s.setCorrupt(c, false)
		s.log.Info("repaired chunk", "cid", c)
	}
	if !exists {
		s.chunks.Add(1)
		s.bytes.Add(int64(len(data)))
	}
	return nil
}

// Get returns the verified bytes of a chunk: ErrNotFound when it is not
// stored, ErrHashMismatch when the stored bytes do not match c. A c with
// codec dag-cbor returns a stored manifest's encoding, verified likewise.
func (s *Store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return s.GetInto(ctx, c, nil)
}

// GetInto is Get reading into dst when it is large enough (a buffer an
// earlier GetInto returned is), so that a caller serving chunk after
// chunk does not allocate a buffer for each.
func (s *Store) GetInto(ctx context.Context, c cid.Cid, dst []byte) ([]byte, error) {
	return s.get(ctx, c, dst, true)
}

// GetForPeer is GetInto for bytes sent to a peer that verifies them on
// arrival, as the push and fetch protocols' receivers do: a chunk's bytes
// are not hashed here, since hashing them on both ends would double what
// costs most CPU in a transfer (SHA-256 was 30% of a 1 GiB download's).
// A chunk a read or an audit found corrupt is still ErrHashMismatch, as
// is a file of the wrong size, and a manifest is verified as by Get.
// Bytes gone bad on disk since are caught by the receiver, which drops
// them and asks another holder, and by the audits, which read with Get.
// Never use it for bytes this node uses or serves to a client itself.
func (s *Store) GetForPeer(ctx context.Context, c cid.Cid, dst []byte) ([]byte, error) {
	return s.get(ctx, c, dst, false)
}

func (s *Store) get(ctx context.Context, c cid.Cid, dst []byte, verify bool) ([]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return nil, err
	}
	if c.Type() == codecDagCBOR {
		return s.manifestBytes(c)
	}
	if !verify && s.isCorrupt(c) {
		return nil, fmt.Errorf("get %s: %w", c, ErrHashMismatch)
	}
	return s.readChunk(c, dst, verify)
}

// readChunk reads a chunk into dst (reused when large enough) and, if
// verify, verifies it; unverified, it checks the size only. A chunk with
// no record, or whose file is missing, is ErrNotFound.
func (s *Store) readChunk(c cid.Cid, dst []byte, verify bool) ([]byte, error) {
	var data []byte
	var rec record
	err := s.db.View(func(txn *badger.Txn) error {
		var ok bool
		var err error
		if rec, ok, err = getRecord(txn, c); err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		if !rec.inline {
			return nil
		}
		item, err := txn.Get(dbKey(pfxChunk, c.Bytes()))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		data, err = item.ValueCopy(dst[:0])
		return err
	})
	if err == nil && !rec.inline {
		data, err = s.blocks.read(c, dst, rec.size)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("get %s: %w", c, ErrNotFound)
	}
	if err != nil && !errors.Is(err, ErrHashMismatch) {
		return nil, fmt.Errorf("get %s: %w", c, err)
	}
	switch {
	case err != nil:
	case verify:
		err = Verify(c, data)
	case int64(len(data)) != rec.size:
		err = fmt.Errorf("%w: %d bytes stored, %d recorded", ErrHashMismatch, len(data), rec.size)
	}
	if err != nil {
		s.setCorrupt(c, true)
		s.log.Error("stored chunk fails verification", "cid", c, "err", err)
		return nil, fmt.Errorf("get %s: %w", c, err)
	}
	return data, nil
}

// Has reports whether a chunk (or, for a dag-cbor CID, a manifest) is
// stored. A chunk a read found corrupt is not (until Put repairs it).
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if err := s.acquire(); err != nil {
		return false, err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return false, err
	}
	if s.isCorrupt(c) {
		return false, nil
	}
	k := dbKey(pfxRecord, c.Bytes())
	if c.Type() == codecDagCBOR {
		k = dbKey(pfxManifest, c.Bytes())
	}
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(k)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("has %s: %w", c, err)
	}
	return true, nil
}

// PutManifest validates and stores a manifest durably and returns its CID.
// A manifest is garbage for GC until a pin references it.
func (s *Store) PutManifest(ctx context.Context, m *Manifest) (cid.Cid, error) {
	if err := m.Validate(); err != nil {
		return cid.Undef, fmt.Errorf("put manifest: %w", err)
	}
	if err := s.acquire(); err != nil {
		return cid.Undef, err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return cid.Undef, err
	}
	return s.putManifest(m)
}

// putManifest writes a valid manifest.
func (s *Store) putManifest(m *Manifest) (cid.Cid, error) {
	enc := m.Encode()
	root := sumCID(codecDagCBOR, enc)
	err := s.update(func(txn *badger.Txn) error {
		return txn.Set(dbKey(pfxManifest, root.Bytes()), enc)
	})
	if err != nil {
		return cid.Undef, fmt.Errorf("put manifest %s: %w", root, err)
	}
	return root, nil
}

// Manifest returns the stored manifest root, verified against root and
// decoded strictly: ErrNotFound, ErrHashMismatch or ErrInvalidManifest.
func (s *Store) Manifest(ctx context.Context, root cid.Cid) (*Manifest, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return nil, err
	}
	return s.manifest(root)
}

func (s *Store) manifest(root cid.Cid) (*Manifest, error) {
	b, err := s.manifestBytes(root)
	if err != nil {
		return nil, err
	}
	m, err := DecodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", root, err)
	}
	return m, nil
}

func (s *Store) manifestBytes(root cid.Cid) ([]byte, error) {
	var b []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(dbKey(pfxManifest, root.Bytes()))
		if err != nil {
			return err
		}
		b, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("manifest %s: %w", root, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", root, err)
	}
	if err := Verify(root, b); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return b, nil
}

// PutMeta stores a small durable record under key. Meta keys live in their
// own namespace and never collide with chunks, manifests or pins.
func (s *Store) PutMeta(ctx context.Context, key string, val []byte) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return err
	}
	err := s.update(func(txn *badger.Txn) error {
		return txn.Set(dbKey(pfxMeta, []byte(key)), val)
	})
	if err != nil {
		return fmt.Errorf("put meta %q: %w", key, err)
	}
	return nil
}

// GetMeta returns the record stored under key, or ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return nil, err
	}
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(dbKey(pfxMeta, []byte(key)))
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("get meta %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get meta %q: %w", key, err)
	}
	return val, nil
}

// DeleteMeta removes the record under key; deleting a missing key is a no-op.
func (s *Store) DeleteMeta(ctx context.Context, key string) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return err
	}
	err := s.update(func(txn *badger.Txn) error {
		return txn.Delete(dbKey(pfxMeta, []byte(key)))
	})
	if err != nil {
		return fmt.Errorf("delete meta %q: %w", key, err)
	}
	return nil
}

// MetaKeys lists the meta keys that start with prefix, in order.
func (s *Store) MetaKeys(ctx context.Context, prefix string) ([]string, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return nil, err
	}
	var keys []string
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: dbKey(pfxMeta, []byte(prefix))})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, string(it.Item().Key()[len(pfxMeta):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("meta keys %q: %w", prefix, err)
	}
	return keys, nil
}

var _ io.Closer = (*Store)(nil)
