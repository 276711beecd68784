package chunk

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
)

// Group commit. Every pin change commits synced, and a sync costs a
// millisecond or more on most disks; pin changes made one at a time under
// pinMu would cap a store at a few hundred a second, one sync each. Small
// changes (at most refBatch reference counts) go instead to one committer
// goroutine, which applies all the changes waiting for it in one
// transaction and syncs once. Each change is checked before any write of
// it, against the transaction's view (which sees the changes before it in
// the group); a failure while writing discards the group, and its changes
// are then committed one by one.

// Bounds on one group.
const (
	groupOps   = 64
	groupBytes = 256 << 10 // well under badger's batch limit (15% of the memtable)
)

// errLargePin sends a change of more than refBatch counts to pinAlone.
var errLargePin = errors.New("pin change too large for a group commit")

// pinOp is one small pin change waiting for the committer.
type pinOp struct {
	ctx   context.Context
	owner string
	root  cid.Cid // cid.Undef: unpin
	menc  []byte  // root's manifest to store with the pin (Ingest)
	inc   []cid.Cid
	ing   *ingested
	size  int // estimated bytes written

	added []smallChunk // set by the committer
	done  chan error
}

func newPinOp(ctx context.Context, owner string, root cid.Cid, menc []byte, inc []cid.Cid, ing *ingested) *pinOp {
	op := &pinOp{ctx: ctx, owner: owner, root: root, menc: menc, inc: inc, ing: ing, done: make(chan error, 1)}
	op.size = len(menc) + 64*(len(inc)+4)
	if ing != nil {
		for _, sc := range ing.small {
			op.size += len(sc.data) + 128
		}
	}
	return op
}

func (op *pinOp) small() []smallChunk {
	if op.ing == nil {
		return nil
	}
	return op.ing.small
}

// commitPin hands op to the committer and waits for its outcome. The
// caller holds the store (acquire), so Close waits for it.
func (s *Store) commitPin(op *pinOp) error {
	select {
	case s.pinq <- op:
	case <-op.ctx.Done():
		return fmt.Errorf("pin %q: %w", op.owner, s.ctxErr(op.ctx))
	}
	return <-op.done
}

// commitLoop is the committer; Close stops it once no operation runs.
func (s *Store) commitLoop() {
	defer close(s.commitDone)
	for {
		var op *pinOp
		select {
		case <-s.commitStop:
			return
		case op = <-s.pinq:
		}
		group := []*pinOp{op}
		size := op.size
	fill:
		for len(group) < groupOps && size < groupBytes {
			select {
			case op := <-s.pinq:
				group = append(group, op)
				size += op.size
			default:
				break fill
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup commits the changes of group in one synced transaction, or,
// when writing one of them fails, each in a transaction of its own.
func (s *Store) commitGroup(group []*pinOp) {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	s.writeMu.RLock()
	defer s.writeMu.RUnlock()
	var small []smallChunk
	for _, op := range group {
		small = append(small, op.small()...)
	}
	unlock := s.lockStripes(small)
	defer unlock()

	if len(group) > 1 {
		if res, err := s.commitTxn(group); err == nil {
			for i, op := range group {
				op.done <- res[i]
			}
			return
		}
		// Nothing was committed: commit them one by one, for each its own
		// outcome.
	}
	for _, op := range group {
		res, err := s.commitTxn([]*pinOp{op})
		if err == nil {
			err = res[0]
		}
		op.done <- err
	}
}

// commitTxn applies ops in one transaction and commits it, returning each
// op's outcome (refused, a no-op, or committed). It fails as a whole, with
// nothing committed, when a write or the commit fails.
func (s *Store) commitTxn(ops []*pinOp) ([]error, error) {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	res := make([]error, len(ops))
	var pending []*pinOp
	for i, op := range ops {
		if err := op.ctx.Err(); err != nil {
			res[i] = fmt.Errorf("pin %q: %w", op.owner, s.ctxErr(op.ctx))
			continue
		}
		write, err := s.checkPin(txn, op)
		if err != nil || write == nil { // refused, or already so
			res[i] = err
			continue
		}
		if err := write(); err != nil {
			return nil, fmt.Errorf("pin %q: %w", op.owner, err)
		}
		pending = append(pending, op)
	}
	if len(pending) > 0 {
		defer s.wrote()
		if err := txn.Commit(); err != nil {
			return nil, fmt.Errorf("pin: %w", err)
		}
	}
	for _, op := range pending {
		s.stagedSmall(op.added)
	}
	return res, nil
}

// checkPin reads what op changes, in txn, and refuses it when it cannot be
// made (a chunk missing, or too many counts: errLargePin). It returns the
// writes to make, or nil when the owner holds root already.
func (s *Store) checkPin(txn *badger.Txn, op *pinOp) (write func() error, err error) {
	old, err := pinnedRootIn(txn, op.owner)
	if err != nil {
		return nil, fmt.Errorf("pin %q: %w", op.owner, err)
	}
	if old == op.root {
		return nil, nil
	}
	var dec []cid.Cid
	if old.Defined() {
		om, err := manifestIn(txn, old)
		if err != nil {
			// Its chunks keep their counts: a leak, never a loss.
			s.log.Error("replaced pin's manifest unreadable; its chunks stay counted", "owner", op.owner, "root", old, "err", err)
		} else {
			dec = distinct(om)
		}
	}
	if len(op.inc)+len(dec) > refBatch {
		return nil, errLargePin
	}
	if op.root.Defined() {
		if err := s.checkPresentIn(txn, op.inc, op.ing); err != nil {
			return nil, fmt.Errorf("pin %q to %s: %w", op.owner, op.root, err)
		}
	}
	return func() error {
		added, err := s.stageSmall(txn, op.small())
		if err != nil {
			return err
		}
		if op.menc != nil {
			if err := txn.Set(dbKey(pfxManifest, op.root.Bytes()), op.menc); err != nil {
				return err
			}
		}
		for _, c := range op.inc {
			if err := s.addRef(txn, c, 1); err != nil {
				return err
			}
		}
		for _, c := range dec {
			if err := s.addRef(txn, c, -1); err != nil {
				return err
			}
		}
		pk := dbKey(pfxPin, []byte(op.owner))
		if op.root.Defined() {
			err = txn.Set(pk, op.root.Bytes())
		} else {
			err = txn.Delete(pk)
		}
		if err != nil {
			return err
		}
		if err := txn.Delete(dbKey(pfxIntent, []byte(op.owner))); err != nil {
			return err
		}
		op.added = added
		return nil
	}, nil
}

// pinnedRootIn returns owner's root as txn sees it, or cid.Undef.
func pinnedRootIn(txn *badger.Txn, owner string) (cid.Cid, error) {
	item, err := txn.Get(dbKey(pfxPin, []byte(owner)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return cid.Undef, nil
	}
	if err != nil {
		return cid.Undef, err
	}
	var root cid.Cid
	err = item.Value(func(v []byte) error {
		root, err = cid.Cast(v)
		return err
	})
	return root, err
}

// manifestIn reads and verifies root's manifest as txn sees it.
func manifestIn(txn *badger.Txn, root cid.Cid) (*Manifest, error) {
	item, err := txn.Get(dbKey(pfxManifest, root.Bytes()))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("manifest %s: %w", root, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", root, err)
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", root, err)
	}
	if err := Verify(root, b); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := DecodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", root, err)
	}
	return m, nil
}
