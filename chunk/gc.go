package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
)

// gcBatch is the number of keys deleted per GC transaction.
const gcBatch = 512

// GCStats reports what one GC removed: chunks and their bytes.
type GCStats struct {
	Chunks int
	Bytes  int64
}

// GC removes every chunk and manifest that no pin references and no
// in-flight Ingest (or [Store.Hold]) keeps: it unlinks the chunks' files,
// so their space comes back at once, then deletes their records. The first
// GC after Open also removes the chunk files a crash left without a
// record, and temporary files of interrupted writes. It is safe to call
// concurrently with everything else; pins wait while it decides what to
// delete.
func (s *Store) GC(ctx context.Context) (GCStats, error) {
	if err := s.acquire(); err != nil {
		return GCStats{}, err
	}
	defer s.release()
	ctx, cancel := s.opContext(ctx)
	defer cancel()

	stats, err := s.collect(ctx)
	if err != nil {
		return stats, fmt.Errorf("gc: %w", err)
	}
	if stats.Chunks > 0 {
		s.log.Debug("gc removed chunks", "chunks", stats.Chunks, "bytes", stats.Bytes)
	}
	if !s.swept.Load() {
		n, err := s.sweep(ctx)
		if err != nil {
			return stats, fmt.Errorf("gc: sweep: %w", err)
		}
		if n > 0 {
			s.log.Info("gc removed files without a record", "files", n)
		}
	}
	if s.opts.InMemory {
		return stats, nil
	}
	// Only large manifests live in badger's value log; reclaim it lightly.
	for ctx.Err() == nil {
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			break
		}
		if err != nil {
			return stats, fmt.Errorf("gc: value log: %w", err)
		}
	}
	return stats, nil
}

// sweep removes, shard by shard, the files that have no record and are
// not held (chunks a crash left between their write and their record's
// commit), and temporary files. Writers are excluded while a shard's
// candidates are checked and removed, so no file being written goes.
func (s *Store) sweep(ctx context.Context) (int, error) {
	removed := 0
	for shard := range numShards {
		if err := s.ctxErr(ctx); err != nil {
			return removed, err
		}
		files, err := s.blocks.walk(shard)
		if err != nil {
			return removed, err
		}
		if len(files) == 0 {
			continue
		}
		n, err := s.sweepFiles(files)
		removed += n
		if err != nil {
			return removed, err
		}
	}
	s.swept.Store(true)
	return removed, nil
}

func (s *Store) sweepFiles(files []blockFile) (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var orphans []string
	err := s.db.View(func(txn *badger.Txn) error {
		for _, f := range files {
			if f.c.Defined() {
				if s.isHeld(f.c) {
					continue
				}
				rec, ok, err := getRecord(txn, f.c)
				if err != nil {
					return err
				}
				if ok && !rec.inline {
					continue
				}
			}
			orphans = append(orphans, f.path)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range orphans {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Store) isHeld(c cid.Cid) bool {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	_, held := s.holds[c]
	return held
}

// collect deletes the unreferenced manifests and chunks.
func (s *Store) collect(ctx context.Context) (GCStats, error) {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()

	// Roots to keep: pinned ones and those of intents left by a failed
	// release (recovery needs their manifests).
	keep := make(map[string]struct{})
	err := s.db.View(func(txn *badger.Txn) error {
		for _, pfx := range [][]byte{pfxPin, pfxIntent} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
			for it.Rewind(); it.Valid(); it.Next() {
				err := it.Item().Value(func(v []byte) error {
					if bytes.Equal(pfx, pfxPin) {
						keep[string(v)] = struct{}{}
						return nil
					}
					in, err := decodeIntent(v)
					if err != nil {
						return err
					}
					for _, c := range []cid.Cid{in.newRoot, in.oldRoot} {
						if c.Defined() {
							keep[string(c.Bytes())] = struct{}{}
						}
					}
					return nil
				})
				if err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return GCStats{}, err
	}

	var stats GCStats
	var batch []garbage
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, size, err := s.remove(batch)
		stats.Chunks += n
		stats.Bytes += size
		batch = batch[:0]
		return err
	}
	err = s.db.View(func(txn *badger.Txn) error {
		// Manifests.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfxManifest, PrefetchValues: false})
		for it.Rewind(); it.Valid() && ctx.Err() == nil; it.Next() {
			id := it.Item().KeyCopy(nil)[len(pfxManifest):]
			if _, ok := keep[string(id)]; ok {
				continue
			}
			c, err := cid.Cast(id)
			if err != nil {
				s.log.Warn("gc: bad manifest key", "err", err)
				continue
			}
			batch = append(batch, garbage{c: c, manifest: true})
			if len(batch) == gcBatch {
				if err := flush(); err != nil {
					it.Close()
					return err
				}
			}
		}
		it.Close()
		// Chunks: those whose record counts no pin.
		it = txn.NewIterator(badger.IteratorOptions{Prefix: pfxRecord, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid() && ctx.Err() == nil; it.Next() {
			item := it.Item()
			var rec record
			if err := item.Value(func(v []byte) error {
				var err error
				rec, err = decodeRecord(v)
				return err
			}); err != nil {
				return err
			}
			if rec.refs > 0 {
				continue
			}
			c, err := cid.Cast(item.Key()[len(pfxRecord):])
			if err != nil {
				s.log.Warn("gc: bad chunk key", "err", err)
				continue
			}
			batch = append(batch, garbage{c: c, size: rec.size, inline: rec.inline})
			if len(batch) == gcBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = s.ctxErr(ctx)
	}
	return stats, err
}

type garbage struct {
	c        cid.Cid
	size     int64
	manifest bool
	inline   bool
}

// remove deletes a batch of garbage, skipping held CIDs: the chunks'
// files first, then their records (a crash between leaves records without
// files and no references, which the next GC deletes). Chunk writers are
// excluded meanwhile, so a chunk an Ingest holds or rewrites is never lost.
func (s *Store) remove(batch []garbage) (chunks int, size int64, err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.holdMu.Lock()
	var del []garbage
	for _, g := range batch {
		if _, held := s.holds[g.c]; !held {
			del = append(del, g)
		}
	}
	s.holdMu.Unlock()
	if len(del) == 0 {
		return 0, 0, nil
	}
	for _, g := range del {
		if !g.manifest && !g.inline {
			if err := s.blocks.remove(g.c); err != nil {
				return 0, 0, fmt.Errorf("remove %s: %w", g.c, err)
			}
		}
	}
	defer s.wrote()
	err = s.db.Update(func(txn *badger.Txn) error {
		for _, g := range del {
			id := g.c.Bytes()
			if g.manifest {
				if err := txn.Delete(dbKey(pfxManifest, id)); err != nil {
					return err
				}
				continue
			}
			if err := txn.Delete(dbKey(pfxRecord, id)); err != nil {
				return err
			}
			if g.inline {
				if err := txn.Delete(dbKey(pfxChunk, id)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	for _, g := range del {
		if g.manifest {
			continue
		}
		chunks++
		size += g.size
		s.setCorrupt(g.c, false)
	}
	s.chunks.Add(-int64(chunks))
	s.bytes.Add(-size)
	return chunks, size, nil
}
