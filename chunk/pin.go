package chunk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
)

// refBatch is the number of reference counts changed per transaction. A
// manifest of many chunks is pinned in several transactions, each of which
// also records its progress in the owner's intent record, so a crash at
// any moment leaves a state that Open completes or rolls back exactly.
const refBatch = 1000

// Intent phases.
const (
	// phaseInc: counts of newRoot's distinct chunks [0, progress) are
	// incremented; the pin itself is unchanged. Recovery rolls back.
	phaseInc byte = 1
	// phaseDec: the pin is switched; counts of oldRoot's distinct chunks
	// [0, progress) are decremented. Recovery rolls forward.
	phaseDec byte = 2
)

// intent is the record of a pin change in progress, kept under i/<owner>.
type intent struct {
	phase    byte
	progress int
	newRoot  cid.Cid // undefined for Unpin
	oldRoot  cid.Cid // undefined when the owner held no pin
}

func appendCID(b []byte, c cid.Cid) []byte {
	if !c.Defined() {
		return binary.AppendUvarint(b, 0)
	}
	cb := c.Bytes()
	return append(binary.AppendUvarint(b, uint64(len(cb))), cb...)
}

func (it intent) encode() []byte {
	b := []byte{it.phase}
	b = binary.AppendUvarint(b, uint64(it.progress))
	b = appendCID(b, it.newRoot)
	return appendCID(b, it.oldRoot)
}

func decodeIntent(b []byte) (intent, error) {
	bad := errors.New("bad intent record")
	if len(b) < 1 || (b[0] != phaseInc && b[0] != phaseDec) {
		return intent{}, bad
	}
	it := intent{phase: b[0]}
	b = b[1:]
	p, n := binary.Uvarint(b)
	if n <= 0 || p > 1<<40 {
		return intent{}, bad
	}
	it.progress = int(p)
	b = b[n:]
	readCID := func() (cid.Cid, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return cid.Undef, bad
		}
		b = b[n:]
		if l == 0 {
			return cid.Undef, nil
		}
		c, err := cid.Cast(b[:l])
		b = b[l:]
		return c, err
	}
	var err error
	if it.newRoot, err = readCID(); err != nil {
		return intent{}, err
	}
	if it.oldRoot, err = readCID(); err != nil {
		return intent{}, err
	}
	if len(b) != 0 {
		return intent{}, bad
	}
	return it, nil
}

// distinct returns the manifest's chunk CIDs, each once, in order of first
// appearance.
func distinct(m *Manifest) []cid.Cid {
	seen := make(map[cid.Cid]struct{}, len(m.Chunks))
	out := make([]cid.Cid, 0, len(m.Chunks))
	for _, r := range m.Chunks {
		if _, ok := seen[r.CID]; !ok {
			seen[r.CID] = struct{}{}
			out = append(out, r.CID)
		}
	}
	return out
}

// Pin pins root (a manifest) and all of its chunks under owner; every
// chunk must be present (ErrNotFound otherwise, nothing changed). One root
// per owner: pinning the same owner and root again is a no-op; pinning an
// owner that holds another root replaces it atomically. A nil return means
// the pin is durable.
func (s *Store) Pin(ctx context.Context, owner string, root cid.Cid) error {
	if owner == "" {
		return errors.New("pin: empty owner")
	}
	if !root.Defined() {
		return errors.New("pin: undefined root")
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	return s.pin(ctx, owner, root, nil, nil)
}

// Unpin removes owner's pin, if any. The chunks it referenced stay until
// GC collects those that no other pin references.
func (s *Store) Unpin(ctx context.Context, owner string) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	return s.pin(ctx, owner, cid.Undef, nil, nil)
}

// Pins lists owner -> root for every owner that starts with prefix.
func (s *Store) Pins(ctx context.Context, prefix string) (map[string]cid.Cid, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	if err := s.ctxErr(ctx); err != nil {
		return nil, err
	}
	pins := make(map[string]cid.Cid)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: dbKey(pfxPin, []byte(prefix)), PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			err := item.Value(func(v []byte) error {
				c, err := cid.Cast(v)
				if err != nil {
					return err
				}
				pins[string(item.Key()[len(pfxPin):])] = c
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pins %q: %w", prefix, err)
	}
	return pins, nil
}

// pinnedRoot returns owner's root, or cid.Undef.
func (s *Store) pinnedRoot(owner string) (cid.Cid, error) {
	var root cid.Cid
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(dbKey(pfxPin, []byte(owner)))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			root, err = cid.Cast(v)
			return err
		})
	})
	return root, err
}

// pin sets owner's pin to root (cid.Undef: unpin). m is root's manifest
// when the caller has it. With ing set, the caller (Ingest) has just
// written m's chunks, except ing.small, which are stored with the pin, as
// is m. Every change holds pinMu while it runs, so GC never sees a
// half-made change.
//
// A change of at most refBatch reference counts is one transaction, shared
// with the other small changes waiting (see commitLoop). A larger one
// records its progress in an intent record, see refBatch.
// Either way, the files of root's chunks and their directories are made
// durable before the commit that switches the pin, and every commit is
// synced (SyncWrites), so a pin acknowledged is a pin kept.
func (s *Store) pin(ctx context.Context, owner string, root cid.Cid, m *Manifest, ing *ingested) error {
	var inc []cid.Cid
	var menc []byte
	if root.Defined() {
		if m == nil {
			var err error
			if m, err = s.manifest(root); err != nil {
				return fmt.Errorf("pin %q: %w", owner, err)
			}
		}
		if ing != nil {
			menc = m.Encode()
		}
		inc = distinct(m)
	}
	// root's chunk files and directories are durable before any commit
	// that pins them.
	if s.blocks != nil {
		if err := s.blocks.syncShards(inc); err != nil {
			return fmt.Errorf("pin %q: %w", owner, err)
		}
	}
	if len(inc) <= refBatch {
		err := s.commitPin(newPinOp(ctx, owner, root, menc, inc, ing))
		if !errors.Is(err, errLargePin) {
			return err
		}
	}
	return s.pinAlone(ctx, owner, root, inc, menc, ing)
}

// pinAlone makes a change of more than refBatch counts (inc, root's
// distinct chunks, and the old root's), in several transactions with an
// intent record. A change that has become smaller since (the owner's old
// root changed) goes the same way, in fewer of them.
func (s *Store) pinAlone(ctx context.Context, owner string, root cid.Cid, inc []cid.Cid, menc []byte, ing *ingested) error {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()

	old, err := s.pinnedRoot(owner)
	if err != nil {
		return fmt.Errorf("pin %q: %w", owner, err)
	}
	if old == root {
		return nil
	}
	var dec []cid.Cid
	if root.Defined() {
		if err := s.checkPresent(inc, ing); err != nil {
			return fmt.Errorf("pin %q to %s: %w", owner, root, err)
		}
	}
	if old.Defined() {
		om, err := s.manifest(old)
		if err != nil {
			// Its chunks keep their counts: a leak, never a loss.
			s.log.Error("replaced pin's manifest unreadable; its chunks stay counted", "owner", owner, "root", old, "err", err)
		} else {
			dec = distinct(om)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pin %q: %w", owner, s.ctxErr(ctx))
	}

	ikey := dbKey(pfxIntent, []byte(owner))
	pk := dbKey(pfxPin, []byte(owner))
	setPin := func(txn *badger.Txn) error {
		if root.Defined() {
			return txn.Set(pk, root.Bytes())
		}
		return txn.Delete(pk)
	}
	putManifest := func(txn *badger.Txn) error {
		if menc == nil {
			return nil
		}
		err := txn.Set(dbKey(pfxManifest, root.Bytes()), menc)
		menc = nil
		return err
	}

	var small []smallChunk
	if ing != nil {
		small = ing.small
	}
	for _, sc := range small {
		if err := s.putChunk(sc.c, sc.data); err != nil {
			return fmt.Errorf("pin %q: %w", owner, err)
		}
	}

	if menc != nil {
		if err := s.update(putManifest); err != nil {
			return fmt.Errorf("pin %q: %w", owner, err)
		}
	}
	it := intent{phase: phaseInc, newRoot: root, oldRoot: old}
	for it.progress < len(inc) {
		if ctx.Err() != nil {
			return errors.Join(fmt.Errorf("pin %q: %w", owner, s.ctxErr(ctx)), s.rollback(owner, it, inc))
		}
		end := min(it.progress+refBatch, len(inc))
		next := it
		next.progress = end
		err := s.update(func(txn *badger.Txn) error {
			for _, c := range inc[it.progress:end] {
				if err := s.addRef(txn, c, 1); err != nil {
					return err
				}
			}
			return txn.Set(ikey, next.encode())
		})
		if err != nil {
			// The batch may or may not have committed; roll back what the
			// intent record says, or leave it to recovery.
			if cur, rerr := s.readIntent(ikey); rerr == nil && cur.phase == phaseInc {
				it = cur
			}
			return errors.Join(fmt.Errorf("pin %q: %w", owner, err), s.rollback(owner, it, inc))
		}
		it = next
	}

	// The switch: everything written before (chunks, manifest, counts) is
	// durable; this commit flips the pin.
	it = intent{phase: phaseDec, newRoot: root, oldRoot: old}
	err = s.update(func(txn *badger.Txn) error {
		if err := setPin(txn); err != nil {
			return err
		}
		if len(dec) == 0 {
			return txn.Delete(ikey)
		}
		return txn.Set(ikey, it.encode())
	})
	if err != nil {
		err = fmt.Errorf("pin %q: %w", owner, err)
		if cur, rerr := s.readIntent(ikey); rerr == nil && cur.phase == phaseInc {
			err = errors.Join(err, s.rollback(owner, cur, inc))
		}
		return err
	}
	if err := s.finishDec(owner, it, dec); err != nil {
		// The pin is done; the intent stays for recovery at the next Open.
		s.log.Error("release replaced pin's references", "owner", owner, "err", err)
	}
	return nil
}

func (s *Store) readIntent(key []byte) (intent, error) {
	var it intent
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			it, err = decodeIntent(v)
			return err
		})
	})
	return it, err
}

// checkPresent returns ErrNotFound naming the first chunk not stored, and
// checks that each chunk's file is there with the recorded size. With ing
// set, the chunks were just written (and ing.small are not yet): it only
// checks their records.
func (s *Store) checkPresent(cids []cid.Cid, ing *ingested) error {
	return s.db.View(func(txn *badger.Txn) error { return s.checkPresentIn(txn, cids, ing) })
}

// checkPresentIn is checkPresent as txn sees the store.
func (s *Store) checkPresentIn(txn *badger.Txn, cids []cid.Cid, ing *ingested) error {
	var skip map[cid.Cid]bool
	if ing != nil && len(ing.small) > 0 {
		skip = make(map[cid.Cid]bool, len(ing.small))
		for _, sc := range ing.small {
			skip[sc.c] = true
		}
	}
	for _, c := range cids {
		if skip[c] {
			continue
		}
		rec, ok, err := getRecord(txn, c)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("chunk %s: %w", c, ErrNotFound)
		}
		if ing != nil || rec.inline {
			continue
		}
		size, err := s.blocks.stat(c)
		if err != nil {
			return err
		}
		if size != rec.size {
			return fmt.Errorf("chunk %s: file missing or damaged: %w", c, ErrNotFound)
		}
	}
	return nil
}

// addRef changes a chunk's reference count by delta (+1 or -1).
func (s *Store) addRef(txn *badger.Txn, c cid.Cid, delta int64) error {
	rec, ok, err := getRecord(txn, c)
	if err != nil {
		return err
	}
	if !ok {
		if delta > 0 {
			return fmt.Errorf("chunk %s: %w", c, ErrNotFound)
		}
		s.log.Warn("release of a chunk that is not stored", "cid", c)
		return nil
	}
	rec.refs += delta
	if rec.refs < 0 {
		s.log.Warn("chunk reference count below zero", "cid", c)
		rec.refs = 0
	}
	return txn.Set(dbKey(pfxRecord, c.Bytes()), rec.encode())
}

// rollback undoes phaseInc increments [0, it.progress) of inc, from the
// end, recording progress as it goes, then removes the intent. It runs to
// the end whatever the caller's context; on a database error the intent
// stays for recovery at the next Open.
func (s *Store) rollback(owner string, it intent, inc []cid.Cid) error {
	ikey := dbKey(pfxIntent, []byte(owner))
	if it.progress > len(inc) {
		it.progress = len(inc)
	}
	for {
		start := max(it.progress-refBatch, 0)
		next := it
		next.progress = start
		err := s.update(func(txn *badger.Txn) error {
			for _, c := range inc[start:it.progress] {
				if err := s.addRef(txn, c, -1); err != nil {
					return err
				}
			}
			if start == 0 {
				return txn.Delete(ikey)
			}
			return txn.Set(ikey, next.encode())
		})
		if err != nil {
			return fmt.Errorf("roll back pin %q: %w", owner, err)
		}
		if start == 0 {
			return nil
		}
		it = next
	}
}

// finishDec decrements dec [it.progress, len) and removes the intent.
func (s *Store) finishDec(owner string, it intent, dec []cid.Cid) error {
	ikey := dbKey(pfxIntent, []byte(owner))
	it.progress = min(it.progress, len(dec))
	for {
		end := min(it.progress+refBatch, len(dec))
		next := it
		next.progress = end
		err := s.update(func(txn *badger.Txn) error {
			for _, c := range dec[it.progress:end] {
				if err := s.addRef(txn, c, -1); err != nil {
					return err
				}
			}
			if end == len(dec) {
				return txn.Delete(ikey)
			}
			return txn.Set(ikey, next.encode())
		})
		if err != nil {
			return fmt.Errorf("release pin %q: %w", owner, err)
		}
		if end == len(dec) {
			return nil
		}
		it = next
	}
}

// recoverIntents completes the pin changes a crash interrupted: a change
// that had not switched the pin is rolled back, one that had is finished.
func (s *Store) recoverIntents() error {
	type pending struct {
		owner string
		it    intent
	}
	var todo []pending
	err := s.db.View(func(txn *badger.Txn) error {
		iter := txn.NewIterator(badger.IteratorOptions{Prefix: pfxIntent, PrefetchValues: false})
		defer iter.Close()
		for iter.Rewind(); iter.Valid(); iter.Next() {
			item := iter.Item()
			owner := string(item.Key()[len(pfxIntent):])
			err := item.Value(func(v []byte) error {
				it, err := decodeIntent(v)
				if err != nil {
					return fmt.Errorf("intent %q: %w", owner, err)
				}
				todo = append(todo, pending{owner, it})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range todo {
		root := p.it.newRoot
		if p.it.phase == phaseDec {
			root = p.it.oldRoot
		}
		var cids []cid.Cid
		if root.Defined() {
			m, err := s.manifest(root)
			if err != nil {
				// Cannot tell which counts changed: leave them (a leak, never a loss).
				s.log.Error("interrupted pin's manifest unreadable; dropping its intent", "owner", p.owner, "root", root, "err", err)
			} else {
				cids = distinct(m)
			}
		}
		if p.it.phase == phaseInc {
			s.log.Info("rolling back interrupted pin", "owner", p.owner, "root", p.it.newRoot)
			if cids == nil {
				p.it.progress = 0
			}
			err = s.rollback(p.owner, p.it, cids)
		} else {
			s.log.Info("finishing interrupted pin", "owner", p.owner, "root", p.it.newRoot)
			if cids == nil {
				p.it.progress = 0
			}
			err = s.finishDec(p.owner, p.it, cids)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lockStripes locks the stripes of the given chunks, in order, and returns
// the unlock. The caller holds writeMu read-locked, as putChunk does.
func (s *Store) lockStripes(small []smallChunk) (unlock func()) {
	var idx []int
	for _, sc := range small {
		b := sc.c.Bytes()
		idx = append(idx, int(b[len(b)-1])%len(s.stripes))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s.stripes[i].Lock()
	}
	return func() {
		for _, i := range idx {
			s.stripes[i].Unlock()
		}
	}
}

// stageSmall writes, in a pin's transaction, the small chunks an Ingest
// left to it: a new chunk inline with its record (returned, for Usage);
// a stored one is left alone if intact and rewritten if not, as putChunk
// does. The caller holds their stripes.
func (s *Store) stageSmall(txn *badger.Txn, small []smallChunk) (added []smallChunk, err error) {
	for _, sc := range small {
		rec, ok, err := getRecord(txn, sc.c)
		if err != nil {
			return nil, err
		}
		id := sc.c.Bytes()
		switch {
		case !ok:
			if err := txn.Set(dbKey(pfxChunk, id), sc.data); err != nil {
				return nil, err
			}
			rec = record{size: int64(len(sc.data)), inline: true}
			if err := txn.Set(dbKey(pfxRecord, id), rec.encode()); err != nil {
				return nil, err
			}
			added = append(added, sc)
		case rec.inline:
			if s.isCorrupt(sc.c) {
				if err := txn.Set(dbKey(pfxChunk, id), sc.data); err != nil {
					return nil, err
				}
			}
		default: // stored in a file
			size, err := s.blocks.stat(sc.c)
			if err != nil {
				return nil, err
			}
			if size != rec.size || s.isCorrupt(sc.c) {
				if err := s.blocks.write(sc.c, sc.data); err != nil {
					return nil, err
				}
				if err := s.blocks.syncShards([]cid.Cid{sc.c}); err != nil {
					return nil, err
				}
			}
		}
	}
	return added, nil
}

// stagedSmall accounts for the chunks stageSmall added once committed.
func (s *Store) stagedSmall(added []smallChunk) {
	for _, sc := range added {
		s.chunks.Add(1)
		s.bytes.Add(int64(len(sc.data)))
	}
}
