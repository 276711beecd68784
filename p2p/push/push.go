package push

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/p2p/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ID is the push protocol.
const ID protocol.ID = "/dds/chunk/push/1.0.0"

var (
	// ErrRefused reports that the holder refused the offer (full, unknown
	// lease...).
	ErrRefused = errors.New("offer refused")
	// ErrBadChunk reports that the holder received a chunk whose bytes do
	// not match its CID; a [*BadChunkError] says which chunk.
	ErrBadChunk = errors.New("chunk fails its cid")
	// ErrBadReceipt reports a receipt that does not match the file or whose
	// signature does not verify with the holder's key.
	ErrBadReceipt = errors.New("invalid receipt")
	// ErrClosed reports a push on a closed service.
	ErrClosed = errors.New("push service closed")
)

// Limits of the protocol's messages.
const (
	maxOffer    = 16 << 10
	maxManifest = 64 << 20
	maxAnswer   = maxManifest / 8 * 2 // a JSON (base64) bitmap of a maximal manifest
	// DefaultTimeout bounds each read and write of a push when
	// [Options.Timeout] is zero.
	DefaultTimeout = 30 * time.Second
	// readAhead is how many chunks the pusher reads ahead of the stream.
	readAhead = 8
	// putWorkers is how many chunks a holder verifies and stores at once:
	// each store waits on the disk for its file's write and sync, so more
	// of them keep a disk busier (a 256 MiB push: 147 MB/s with 3, 207 with
	// 8, on 2 cores).
	putWorkers = 8
)

// Store is what the holder side writes (chunk.Store satisfies it).
type Store interface {
	Has(ctx context.Context, c cid.Cid) (bool, error)
	Put(ctx context.Context, c cid.Cid, data []byte) error // verifies
	PutManifest(ctx context.Context, m *chunk.Manifest) (cid.Cid, error)
	Pin(ctx context.Context, owner string, root cid.Cid) error
	Hold(cids ...cid.Cid) (release func())
}

// Offer is what a pusher proposes to a holder: a file, its root (manifest
// CID) and its size in bytes.
type Offer struct {
	FileID string `json:"file_id"`
	Root   string `json:"root"`
	Size   int64  `json:"size"`
}

// Options configures a [Service].
type Options struct {
	// Accept decides whether this node takes the file (capacity, a paid
	// lease naming it...); an error refuses. Nil accepts every offer.
	Accept func(ctx context.Context, from peer.ID, o Offer) error
	// Confirm, when set, is a check of an accepted offer that may wait
	// (for this node's replica of the ledger to learn of the payment the
	// pusher saw): it runs while the chunks come in, and an error refuses
	// the push then, stopping the transfer; nothing is pinned before it
	// returns nil. What it lets through in the meantime is bounded by how
	// long it waits, and is garbage for GC if it refuses.
	Confirm func(ctx context.Context, from peer.ID, o Offer) error
	// ChunkSize, when set, is the network's chunk size: an offer's
	// manifest is read only up to what a file of the offer's size in such
	// chunks takes (chunk.MaxManifestSize), and a manifest in other
	// chunks is refused; 0 (not known yet) refuses every offer. Nil reads
	// up to the protocol's bound, 64 MiB.
	ChunkSize func() int64
	// Owner is the pin owner for a file on this node (the node uses
	// "lease/"+fileID). Nil uses "push/"+fileID.
	Owner func(fileID string) string
	// Sign signs a receipt's canonical bytes with this node's key.
	Sign func(data []byte) ([]byte, error)
	// Self is this node's peer id (the receipt's Holder).
	Self string
	// Timeout bounds each read and write on a stream ([DefaultTimeout]
	// when zero).
	Timeout time.Duration
	// Logger receives the service's log lines; nil discards them.
	Logger *slog.Logger
}

// Service serves the holder side of the push protocol and pushes files to
// holders. Create it with [New], stop it with [Service.Close].
type Service struct {
	h     host.Host
	store Store
	o     Options
	log   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup

	sent     atomic.Int64
	received atomic.Int64
}

// New registers the holder side of the protocol on h, storing into store,
// and returns the service (also the pushing side).
func New(h host.Host, store Store, o Options) *Service {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Owner == nil {
		o.Owner = func(fileID string) string { return "push/" + fileID }
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{h: h, store: store, o: o, log: log, ctx: ctx, cancel: cancel}
	h.SetStreamHandler(ID, s.handle)
	return s
}

// Close removes the handler, stops the pushes being served and waits for
// them.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.h.RemoveStreamHandler(ID)
	s.cancel()
	s.wg.Wait()
	return nil
}

// Sent is the number of chunk bytes this service has pushed to holders.
func (s *Service) Sent() int64 { return s.sent.Load() }

// Received is the number of chunk bytes this service has received and
// stored as a holder.
func (s *Service) Received() int64 { return s.received.Load() }

// BadChunkError is [ErrBadChunk] with the manifest index of the chunk the
// holder found bad. The pusher reads chunks without hashing them (the
// holder does), so the bytes may have gone bad in the pusher's own store:
// it checks its copy of that chunk.
type BadChunkError struct {
	Index int
	Msg   string
}

func (e *BadChunkError) Error() string {
	return fmt.Sprintf("%v: chunk %d: %s", ErrBadChunk, e.Index, e.Msg)
}

func (e *BadChunkError) Unwrap() error { return ErrBadChunk }

// answer is the holder's reply to an offer (Missing) and at the end of the
// transfer (Receipt), or its error.
type answer struct {
	Error    string           `json:"error,omitempty"`
	Refused  bool             `json:"refused,omitempty"`
	BadChunk bool             `json:"bad_chunk,omitempty"`
	BadIndex *int             `json:"bad_index,omitempty"` // with BadChunk: the chunk's manifest index
	Missing  []byte           `json:"missing,omitempty"`   // bitmap over the manifest's chunk indexes
	Receipt  *billing.Receipt `json:"receipt,omitempty"`
}

func (a answer) err() error {
	switch {
	case a.Refused:
		return fmt.Errorf("%w: %s", ErrRefused, a.Error)
	case a.BadChunk && a.BadIndex != nil:
		return &BadChunkError{Index: *a.BadIndex, Msg: a.Error}
	case a.BadChunk:
		return fmt.Errorf("%w: %s", ErrBadChunk, a.Error)
	case a.Error != "":
		return &wire.RemoteError{Msg: a.Error}
	}
	return nil
}

// holderError is an error the holder reports to the pusher; index is the
// bad chunk's manifest index when bad.
type holderError struct {
	refused, bad bool
	index        int
	err          error
}

func (e *holderError) Error() string { return e.err.Error() }
func (e *holderError) Unwrap() error { return e.err }

func (s *Service) handle(st network.Stream) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = st.Reset()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()

	from := st.Conn().RemotePeer()
	receipt, err := s.serve(ctx, st, from)
	var a answer
	if err != nil {
		s.log.Warn("push refused", "from", from, "err", err)
		a.Error = err.Error()
		var he *holderError
		if errors.As(err, &he) {
			a.Refused, a.BadChunk = he.refused, he.bad
			if he.bad {
				a.BadIndex = &he.index
			}
		}
	} else {
		a.Receipt = &receipt
	}
	_ = st.SetWriteDeadline(time.Now().Add(s.o.Timeout))
	if werr := wire.WriteJSON(st, a); werr != nil {
		_ = st.Reset()
		return
	}
	_ = st.CloseWrite()
	if err != nil {
		// Let the reply reach the pusher, then drop what it still sends.
		_ = st.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(st, 8<<20))
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// serve runs the holder side of one push and returns its signed receipt.
func (s *Service) serve(ctx context.Context, st network.Stream, from peer.ID) (billing.Receipt, error) {
	r := bufio.NewReaderSize(st, 64<<10)
	_ = st.SetReadDeadline(time.Now().Add(s.o.Timeout))
	var offer Offer
	if err := wire.ReadJSON(r, maxOffer, &offer); err != nil {
		return billing.Receipt{}, fmt.Errorf("read offer: %w", err)
	}
	root, err := cid.Decode(offer.Root)
	if err != nil {
		return billing.Receipt{}, &holderError{refused: true, err: fmt.Errorf("offer root: %w", err)}
	}
	if offer.Size < 0 {
		return billing.Receipt{}, &holderError{refused: true, err: fmt.Errorf("offer size %d", offer.Size)}
	}
	// The offer is judged before its manifest is read: a pusher that may
	// not push this file sends nothing more that this node must take in.
	if s.o.Accept != nil {
		if err := s.o.Accept(ctx, from, offer); err != nil {
			return billing.Receipt{}, &holderError{refused: true, err: err}
		}
	}
	limit := int64(maxManifest)
	var chunkSize int64
	if s.o.ChunkSize != nil {
		if chunkSize = s.o.ChunkSize(); chunkSize <= 0 {
			return billing.Receipt{}, &holderError{refused: true, err: errors.New("this node does not know the network's chunk size yet")}
		}
		limit = min(limit, chunk.MaxManifestSize(offer.Size, chunkSize))
	}
	enc, err := wire.ReadMsg(r, int(max(limit, 1)))
	if err != nil {
		if errors.Is(err, wire.ErrTooLarge) {
			return billing.Receipt{}, &holderError{refused: true, err: fmt.Errorf("manifest: %w", err)}
		}
		return billing.Receipt{}, fmt.Errorf("read manifest: %w", err)
	}
	if err := chunk.Verify(root, enc); err != nil {
		return billing.Receipt{}, &holderError{refused: true, err: fmt.Errorf("manifest: %w", err)}
	}
	m, err := chunk.DecodeManifest(enc)
	if err != nil {
		return billing.Receipt{}, &holderError{refused: true, err: fmt.Errorf("manifest: %w", err)}
	}
	if m.Size != offer.Size {
		return billing.Receipt{}, &holderError{refused: true, err: fmt.Errorf("offer size %d, manifest size %d", offer.Size, m.Size)}
	}
	if chunkSize > 0 && m.ChunkSize != chunkSize {
		return billing.Receipt{}, &holderError{refused: true, err: fmt.Errorf("manifest in chunks of %d bytes, the network's are %d", m.ChunkSize, chunkSize)}
	}

	// Keep every chunk of the file, and the manifest, from GC until pinned.
	cids := make([]cid.Cid, 0, len(m.Chunks)+1)
	cids = append(cids, root)
	seen := make(map[cid.Cid]struct{}, len(m.Chunks))
	missing := make([]byte, (len(m.Chunks)+7)/8)
	var want []int
	for _, ref := range m.Chunks {
		if _, ok := seen[ref.CID]; ok {
			continue
		}
		seen[ref.CID] = struct{}{}
		cids = append(cids, ref.CID)
	}
	release := s.store.Hold(cids...)
	defer release()
	clear(seen)
	for i, ref := range m.Chunks {
		if _, ok := seen[ref.CID]; ok {
			continue
		}
		seen[ref.CID] = struct{}{}
		has, err := s.store.Has(ctx, ref.CID)
		if err != nil {
			return billing.Receipt{}, fmt.Errorf("has chunk: %w", err)
		}
		if !has {
			missing[i/8] |= 1 << (i % 8)
			want = append(want, i)
		}
	}
	seen = nil
	_ = st.SetWriteDeadline(time.Now().Add(s.o.Timeout))
	if err := wire.WriteJSON(st, answer{Missing: missing}); err != nil {
		return billing.Receipt{}, fmt.Errorf("write answer: %w", err)
	}

	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	confirmed := s.confirm(rctx, st, from, offer, rcancel)
	rerr := s.receive(rctx, st, r, m, want)
	if rerr != nil {
		rcancel()
	}
	c := <-confirmed
	switch {
	case c.refused:
		return billing.Receipt{}, &holderError{refused: true, err: c.err}
	case rerr != nil:
		return billing.Receipt{}, rerr
	case c.err != nil:
		return billing.Receipt{}, c.err
	}

	got, err := s.store.PutManifest(ctx, m)
	if err != nil {
		return billing.Receipt{}, fmt.Errorf("store manifest: %w", err)
	}
	if got != root {
		return billing.Receipt{}, fmt.Errorf("store manifest: cid %s, offered %s", got, root)
	}
	if err := s.store.Pin(ctx, s.o.Owner(offer.FileID), root); err != nil {
		return billing.Receipt{}, fmt.Errorf("pin: %w", err)
	}
	rc := billing.Receipt{FileID: offer.FileID, CID: root.String(), Size: m.Size, Holder: s.o.Self}
	if s.o.Sign == nil {
		return billing.Receipt{}, errors.New("sign receipt: no key")
	}
	sig, err := s.o.Sign(rc.Canonical())
	if err != nil {
		return billing.Receipt{}, fmt.Errorf("sign receipt: %w", err)
	}
	rc.Signature = sig
	s.log.Debug("push stored", "from", from, "file", offer.FileID, "root", root, "chunks", len(want))
	return rc, nil
}

// confirmation is the outcome of Options.Confirm: refused when it
// returned an error of its own, not one of ctx ending.
type confirmation struct {
	err     error
	refused bool
}

// confirm runs Options.Confirm while the chunks come in and delivers its
// outcome on the channel returned (at once without one). A refusal
// cancels the transfer (stop) and cuts short the read under way.
func (s *Service) confirm(ctx context.Context, st network.Stream, from peer.ID, offer Offer, stop context.CancelFunc) <-chan confirmation {
	res := make(chan confirmation, 1)
	if s.o.Confirm == nil {
		res <- confirmation{}
		return res
	}
	go func() {
		err := s.o.Confirm(ctx, from, offer)
		c := confirmation{err: err, refused: err != nil && ctx.Err() == nil}
		if c.refused {
			stop()
			_ = st.SetReadDeadline(time.Now())
		}
		res <- c
	}()
	return res
}

// receive reads the wanted chunks in order and stores them with a few
// workers, each verified by the store.
func (s *Service) receive(ctx context.Context, st network.Stream, r *bufio.Reader, m *chunk.Manifest, want []int) error {
	type job struct {
		i    int // in the manifest
		c    cid.Cid
		data []byte
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan job, putWorkers-1)
	var wg sync.WaitGroup
	for range putWorkers {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() == nil {
					if err := s.store.Put(ctx, j.c, j.data); err != nil {
						if errors.Is(err, chunk.ErrHashMismatch) {
							err = &holderError{bad: true, index: j.i, err: err}
						} else {
							err = fmt.Errorf("store chunk: %w", err)
						}
						cancel(err)
					} else {
						s.received.Add(int64(len(j.data)))
					}
				}
				wire.ReleaseFrame(j.data)
			}
		})
	}
	var rerr error
	for _, i := range want {
		ref := m.Chunks[i]
		if ctx.Err() != nil {
			break
		}
		_ = st.SetReadDeadline(time.Now().Add(s.o.Timeout))
		data, err := wire.ReadFrame(r, int(m.ChunkSize))
		if err != nil {
			rerr = fmt.Errorf("read chunk %d: %w", i, err)
			break
		}
		if int64(len(data)) != ref.Size {
			wire.ReleaseFrame(data)
			rerr = &holderError{bad: true, index: i, err: fmt.Errorf("%d bytes, want %d", len(data), ref.Size)}
			break
		}
		select {
		case jobs <- job{i, ref.CID, data}:
			continue
		case <-ctx.Done():
			wire.ReleaseFrame(data)
		}
		break
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && rerr == nil {
		rerr = err
	}
	return rerr
}

// Push offers file fileID (root, manifest m) to holder p; the holder
// answers which chunks it lacks; those are streamed in order on one stream
// (read a few ahead with read from the local store, so memory stays at a
// few chunks), the holder verifies and stores each, stores the manifest,
// pins it under its Owner(fileID), and returns its signed receipt, checked
// here against holderKey (the raw ed25519 public key of p). Resumable:
// calling Push again after a failure sends only what the holder still
// lacks.
func (s *Service) Push(ctx context.Context, p peer.ID, holderKey []byte, fileID string, root cid.Cid, m *chunk.Manifest, read func(ctx context.Context, c cid.Cid) ([]byte, error)) (billing.Receipt, error) {
	rc, err := s.push(ctx, p, holderKey, fileID, root, m, read)
	if err != nil {
		return billing.Receipt{}, fmt.Errorf("push %s to %s: %w", fileID, p, err)
	}
	return rc, nil
}

func (s *Service) push(ctx context.Context, p peer.ID, holderKey []byte, fileID string, root cid.Cid, m *chunk.Manifest, read func(ctx context.Context, c cid.Cid) ([]byte, error)) (billing.Receipt, error) {
	if len(holderKey) != ed25519.PublicKeySize {
		return billing.Receipt{}, fmt.Errorf("%w: holder key of %d bytes", ErrBadReceipt, len(holderKey))
	}
	enc := m.Encode()
	if got := m.CID(); got != root {
		return billing.Receipt{}, fmt.Errorf("manifest cid %s, root %s", got, root)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	st, err := s.h.NewStream(ctx, p, ID)
	if err != nil {
		return billing.Receipt{}, fmt.Errorf("open stream: %w", err)
	}
	resetOnCancel := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer resetOnCancel()
	ok := false
	defer func() {
		if !ok {
			_ = st.Reset()
		}
	}()

	_ = st.SetWriteDeadline(time.Now().Add(s.o.Timeout))
	if err := wire.WriteJSON(st, Offer{FileID: fileID, Root: root.String(), Size: m.Size}); err != nil {
		return billing.Receipt{}, s.cause(ctx, fmt.Errorf("send offer: %w", err))
	}
	if err := wire.WriteFrame(st, enc); err != nil {
		return billing.Receipt{}, s.cause(ctx, fmt.Errorf("send manifest: %w", err))
	}
	r := bufio.NewReaderSize(st, 4<<10)
	_ = st.SetReadDeadline(time.Now().Add(s.o.Timeout))
	var a answer
	if err := wire.ReadJSON(r, maxAnswer, &a); err != nil {
		return billing.Receipt{}, s.cause(ctx, fmt.Errorf("read answer: %w", err))
	}
	if err := a.err(); err != nil {
		return billing.Receipt{}, err
	}
	if len(a.Missing) != (len(m.Chunks)+7)/8 {
		return billing.Receipt{}, fmt.Errorf("answer: bitmap of %d bytes for %d chunks", len(a.Missing), len(m.Chunks))
	}
	var want []int
	for i := range m.Chunks {
		if a.Missing[i/8]&(1<<(i%8)) != 0 {
			want = append(want, i)
		}
	}

	// Stream the wanted chunks while waiting for the holder's result, which
	// may come early (an error).
	wctx, wcancel := context.WithCancel(ctx)
	werrc := make(chan error, 1)
	go func() { werrc <- s.send(wctx, st, m, want, read) }()
	_ = st.SetReadDeadline(time.Time{})
	var res answer
	rerr := wire.ReadJSON(r, maxAnswer, &res)
	if rerr != nil || res.err() != nil {
		// The holder stopped reading: unblock the writer.
		_ = st.Reset()
	}
	wcancel()
	werr := <-werrc
	if rerr != nil {
		if werr != nil && !errors.Is(werr, context.Canceled) {
			return billing.Receipt{}, s.cause(ctx, werr)
		}
		return billing.Receipt{}, s.cause(ctx, fmt.Errorf("read result: %w", rerr))
	}
	if err := res.err(); err != nil {
		var bad *BadChunkError
		if errors.As(err, &bad) && (bad.Index < 0 || bad.Index >= len(m.Chunks)) {
			err = fmt.Errorf("%w: %s (chunk index %d out of range)", ErrBadChunk, bad.Msg, bad.Index)
		}
		return billing.Receipt{}, err
	}
	// The holder answers only once it has read every chunk: the writer is
	// done, whatever it returned after its last write.
	if res.Receipt == nil {
		return billing.Receipt{}, fmt.Errorf("%w: none", ErrBadReceipt)
	}
	rc := *res.Receipt
	if rc.FileID != fileID || rc.CID != root.String() || rc.Size != m.Size || rc.Holder != p.String() {
		return billing.Receipt{}, fmt.Errorf("%w: for %s %s %d %s", ErrBadReceipt, rc.FileID, rc.CID, rc.Size, rc.Holder)
	}
	if len(rc.Signature) != ed25519.SignatureSize || !ed25519.Verify(holderKey, rc.Canonical(), rc.Signature) {
		return billing.Receipt{}, fmt.Errorf("%w: bad signature", ErrBadReceipt)
	}
	ok = true
	_ = st.Close()
	return rc, nil
}

// cause returns ctx's error when ctx has ended (the stream was reset for
// it), otherwise err.
func (s *Service) cause(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if s.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// send writes the wanted chunks in order, reading up to readAhead of them
// ahead from the local store.
func (s *Service) send(ctx context.Context, st network.Stream, m *chunk.Manifest, want []int, read func(ctx context.Context, c cid.Cid) ([]byte, error)) error {
	type result struct {
		data []byte
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan chan result, readAhead-1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(queue)
		for _, i := range want {
			f := make(chan result, 1)
			select {
			case queue <- f:
			case <-ctx.Done():
				return
			}
			c := m.Chunks[i].CID
			wg.Go(func() {
				data, err := read(ctx, c)
				f <- result{data, err}
			})
		}
	})
	defer wg.Wait()
	defer cancel()
	n := 0
	for f := range queue {
		var res result
		select {
		case res = <-f:
		case <-ctx.Done():
			return ctx.Err()
		}
		i := want[n]
		n++
		if res.err != nil {
			return fmt.Errorf("read chunk %d: %w", i, res.err)
		}
		_ = st.SetWriteDeadline(time.Now().Add(s.o.Timeout))
		if err := wire.WriteFrame(st, res.data); err != nil {
			return fmt.Errorf("send chunk %d: %w", i, err)
		}
		s.sent.Add(int64(len(res.data)))
	}
	if n < len(want) {
		return ctx.Err()
	}
	return nil
}
