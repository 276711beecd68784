package chunk

import (
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ipfs/go-cid"
)

// blockKeys encodes CID bytes as file names: base32, lowercase, no padding.
var blockKeys = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const (
	shardChars = 2
	numShards  = 32 * 32 // two base32 characters
	tmpSuffix  = ".tmp"
)

// base32Value maps a base32 character to its value.
func base32Value(ch byte) int {
	switch {
	case ch >= 'a' && ch <= 'z':
		return int(ch - 'a')
	case ch >= '2' && ch <= '7':
		return int(ch-'2') + 26
	}
	return -1
}

// blockKey returns a chunk's file name and its shard: the next-to-last two
// characters of the name (the last one carries padding bits, so it takes
// few values), like flatfs' next-to-last/2.
func blockKey(c cid.Cid) (key string, shard int) {
	key = blockKeys.EncodeToString(c.Bytes())
	n := len(key)
	return key, base32Value(key[n-3])*32 + base32Value(key[n-2])
}

func shardName(shard int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	return string([]byte{alphabet[shard/32], alphabet[shard%32]})
}

// blocks keeps chunk bytes in files: <dir>/<shard>/<key>, read and
// written with direct I/O where the file system allows it (see the package
// doc). A chunk is written to a temporary file in its shard, synced and
// renamed into place, so its final name never holds torn bytes; the
// renames are made durable by syncing the shard directories before the
// commit that pins the chunk (syncShards). gen and synced implement that
// lazily: gen[i] counts the renames into shard i, synced[i] the value of
// gen[i] that the last sync of the directory began after. Shard
// directories are made on first use (index numShards of gen and synced
// stands for dir itself).
//
// A syncer goroutine (startSyncer) syncs the directories renamed into as
// the writes go on, syncDelay of renames at a time, so a pin of a large
// file finds few left to sync: 1 GiB pushed to a fresh store renames into
// about 640 shards, whose syncs took 100 ms at its pin (8 at a time) after
// the last chunk had come in.
type blocks struct {
	dir      string
	buffered atomic.Bool // the file system refused direct I/O
	made     [numShards]atomic.Bool
	gen      [numShards + 1]atomic.Uint64
	synced   [numShards + 1]atomic.Uint64

	syncer *kicked // nil until startSyncer
}

// openBlocks opens dir, creating it (durably) if needed.
func openBlocks(dir string) (*blocks, error) {
	b := &blocks{dir: dir}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if n := e.Name(); e.IsDir() && len(n) == shardChars {
			if v0, v1 := base32Value(n[0]), base32Value(n[1]); v0 >= 0 && v1 >= 0 {
				b.made[v0*32+v1].Store(true)
			}
		}
	}
	return b, nil
}

// makeShard creates a shard directory on its first use.
func (b *blocks) makeShard(shard int) error {
	if b.made[shard].Load() {
		return nil
	}
	if err := os.Mkdir(filepath.Join(b.dir, shardName(shard)), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	b.gen[numShards].Add(1)
	b.made[shard].Store(true)
	b.wake()
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

func (b *blocks) path(key string, shard int) string {
	return filepath.Join(b.dir, shardName(shard), key)
}

// stat returns the size of c's file, or -1 when there is none.
func (b *blocks) stat(c cid.Cid) (int64, error) {
	fi, err := os.Stat(b.path(blockKey(c)))
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// write stores data as c's file: a synced temporary file renamed into
// place. The caller serializes writers of one CID.
func (b *blocks) write(c cid.Cid, data []byte) error {
	key, shard := blockKey(c)
	final := b.path(key, shard)
	if err := b.makeShard(shard); err != nil {
		return err
	}
	tmp := final + "." + strconv.FormatUint(rand.Uint64(), 36) + tmpSuffix
	f, direct, err := b.open(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	if direct {
		err = writeDirect(f, data)
	} else {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	b.gen[shard].Add(1)
	b.wake()
	return nil
}

// syncDelay is how long the syncer lets renames gather before it syncs
// their directories.
const syncDelay = 5 * time.Millisecond

// wake tells the syncer that a directory needs a sync.
func (b *blocks) wake() {
	if b.syncer != nil {
		b.syncer.poke()
	}
}

// startSyncer starts the goroutine that syncs renamed-into directories in
// the background; stopSyncer stops it. A sync that fails there is logged
// and left to the next pin, whose syncShards syncs the directory itself.
// Renames before it starts (Open's recovery) are left to the pins too.
func (b *blocks) startSyncer(log *slog.Logger) {
	b.syncer = startKicked(syncDelay, func() time.Duration {
		var dirty []int
		for i := range numShards {
			if b.synced[i].Load() < b.gen[i].Load() {
				dirty = append(dirty, i)
			}
		}
		if err := b.syncList(dirty); err != nil {
			log.Warn("sync chunk directories", "err", err)
		}
		return 0
	})
}

func (b *blocks) stopSyncer() { b.syncer.close() }

// open opens name with flag, for direct I/O unless the file system
// refused it before (EINVAL: tmpfs before Linux 6.6, for one). It reports whether
// the file is open for direct I/O.
func (b *blocks) open(name string, flag int) (f *os.File, direct bool, err error) {
	if oDirect != 0 && !b.buffered.Load() {
		f, err = os.OpenFile(name, flag|oDirect, 0o644)
		if !errors.Is(err, syscall.EINVAL) {
			return f, err == nil, err
		}
		b.buffered.Store(true)
	}
	f, err = os.OpenFile(name, flag, 0o644)
	return f, false, err
}

// writeDirect writes data to f, open for direct I/O: whole aligned blocks
// from an aligned buffer, the last one padded with zeros and the file then
// cut to len(data).
func writeDirect(f *os.File, data []byte) error {
	whole := len(data) &^ (directAlign - 1)
	if whole > 0 {
		src := data[:whole]
		if !aligned(src) {
			buf := getAligned(whole)
			defer putAligned(buf)
			src = buf[:copy(buf, src)]
		}
		if _, err := f.Write(src); err != nil {
			return err
		}
	}
	if whole == len(data) {
		return nil
	}
	tail := getAligned(directAlign)
	defer putAligned(tail)
	clear(tail[copy(tail, data[whole:]):directAlign])
	if _, err := f.Write(tail[:directAlign]); err != nil {
		return err
	}
	return f.Truncate(int64(len(data)))
}

// read reads c's file into dst (reused when large enough and aligned for
// direct I/O). A missing file is ErrNotFound; a file larger than max is
// ErrHashMismatch.
func (b *blocks) read(c cid.Cid, dst []byte, max int64) ([]byte, error) {
	f, direct, err := b.open(b.path(blockKey(c)), os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size > max {
		return nil, fmt.Errorf("file of %d bytes: %w", size, ErrHashMismatch)
	}
	need := size
	if direct {
		// Direct reads are whole aligned blocks; the last one comes back
		// short, at the end of the file.
		need = (size + directAlign - 1) &^ (directAlign - 1)
		if int64(cap(dst)) < need || (need > 0 && !aligned(dst[:1])) {
			dst = makeAligned(int(need))
		}
	} else if int64(cap(dst)) < need {
		dst = make([]byte, need)
	}
	dst = dst[:need]
	n := 0
	for int64(n) < size {
		k, err := f.Read(dst[n:])
		n += k
		if err == io.EOF || (err == nil && k == 0) || (direct && k%directAlign != 0) {
			break // the end of the file (a direct read ends unaligned)
		}
		if err != nil {
			return nil, err
		}
	}
	// A file truncated under us comes back short and fails verification.
	return dst[:min(int64(n), size)], nil
}

// directAlign is the alignment of direct I/O: of buffer addresses, lengths
// and offsets. 4096 covers devices with 512-byte and 4 KiB sectors.
const directAlign = 4096

// aligned reports whether b starts on a directAlign boundary.
func aligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))&(directAlign-1) == 0
}

// makeAligned returns a new buffer of n bytes that starts on a directAlign
// boundary.
func makeAligned(n int) []byte {
	buf := make([]byte, n+directAlign)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(buf))) & (directAlign - 1))
	return buf[off : off+n : off+n]
}

// alignedPool holds aligned buffers of alignedPoolSize bytes for writes
// whose data is not aligned.
var alignedPool sync.Pool

const alignedPoolSize = 1 << 20

// getAligned returns an aligned buffer of at least n bytes.
func getAligned(n int) []byte {
	if n > alignedPoolSize {
		return makeAligned(n)
	}
	if p, ok := alignedPool.Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return makeAligned(alignedPoolSize)[:n]
}

// putAligned returns a buffer from getAligned to the pool.
func putAligned(b []byte) {
	if cap(b) == alignedPoolSize {
		b = b[:alignedPoolSize]
		alignedPool.Put(&b)
	}
}

// remove unlinks c's file; a missing file is not an error.
func (b *blocks) remove(c cid.Cid) error {
	err := os.Remove(b.path(blockKey(c)))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// syncShards makes the renames into the shards of cids durable: it syncs
// each shard directory renamed into since its last sync, once, a few at a
// time in parallel (the file system's journal merges their commits).
func (b *blocks) syncShards(cids []cid.Cid) error {
	var seen [numShards]bool
	var dirty []int
	for _, c := range cids {
		_, shard := blockKey(c)
		if seen[shard] {
			continue
		}
		seen[shard] = true
		if b.synced[shard].Load() < b.gen[shard].Load() {
			dirty = append(dirty, shard)
		}
	}
	return b.syncList(dirty)
}

// syncList syncs the dirty shards' directories (each unless synced since
// its last rename), syncParallel at a time, then dir (for the shards made).
func (b *blocks) syncList(dirty []int) error {
	var wg sync.WaitGroup
	errs := make([]error, min(len(dirty), syncParallel))
	for w := range errs {
		wg.Go(func() {
			for i := w; i < len(dirty); i += len(errs) {
				if err := b.syncShard(dirty[i], filepath.Join(b.dir, shardName(dirty[i]))); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// The shard directories made since the last sync of dir.
	return b.syncShard(numShards, b.dir)
}

// syncParallel bounds the directory syncs of one syncList in flight.
const syncParallel = 8

// syncShard syncs dir unless nothing was renamed into it (gen[i]) since
// the start of its last sync.
func (b *blocks) syncShard(i int, dir string) error {
	g := b.gen[i].Load()
	if b.synced[i].Load() >= g {
		return nil
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync shard: %w", err)
	}
	for {
		s := b.synced[i].Load()
		if s >= g || b.synced[i].CompareAndSwap(s, g) {
			return nil
		}
	}
}

// blockFile is one file found by walk: a chunk's (c defined) or a
// temporary file left by an interrupted write.
type blockFile struct {
	c    cid.Cid
	path string
}

// walk lists every file of one shard.
func (b *blocks) walk(shard int) ([]blockFile, error) {
	dir := filepath.Join(b.dir, shardName(shard))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]blockFile, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		f := blockFile{path: filepath.Join(dir, name)}
		if !strings.HasSuffix(name, tmpSuffix) {
			raw, err := blockKeys.DecodeString(name)
			if err != nil {
				continue // not ours
			}
			if f.c, err = cid.Cast(raw); err != nil {
				continue
			}
		}
		out = append(out, f)
	}
	return out, nil
}
