package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"

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
// in-flight Ingest (or [Store.Hold]) keeps, then runs badger's value-log
// GC to reclaim disk space. It is safe to call concurrently with
// everything else; pins wait while it decides what to delete.
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
	if s.opts.InMemory || stats.Chunks == 0 {
		return stats, nil
	}
	if err := s.compact(); err != nil {
		return stats, fmt.Errorf("gc: %w", err)
	}
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

// pfxFlush is the namespace of a marker key whose drop forces badger to
// flush its memtables.
var pfxFlush = []byte("g/")

// compact makes the deletions visible to badger's value-log GC. Badger
// learns which value-log entries are garbage only when compaction drops
// them, and with chunks in the value log the memtable (keys only) may hold
// the deletions for a long time. DropPrefix of a marker key flushes the
// memtables; Flatten then compacts the small LSM tree into one level,
// dropping the deleted versions and recording their value-log space as
// discardable.
func (s *Store) compact() error {
	// DropPrefix makes concurrent writes fail with ErrBlockedWrites: keep
	// the store's writers out meanwhile.
	s.writeMu.Lock()
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(dbKey(pfxFlush, []byte("marker")), nil)
	})
	if err == nil {
		err = s.db.DropPrefix(pfxFlush)
	}
	s.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("flush memtables: %w", err)
	}
	if err := s.db.Flatten(2); err != nil {
		return fmt.Errorf("flatten: %w", err)
	}
	return nil
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
			batch = append(batch, garbage{c: c, size: rec.size})
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
}

// remove deletes a batch of garbage, skipping held CIDs. Chunk writers are
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
			if err := txn.Delete(dbKey(pfxChunk, id)); err != nil {
				return err
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
