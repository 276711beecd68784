package fetch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/p2p/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ID is the fetch protocol.
const ID protocol.ID = "/dds/chunk/fetch/1.0.0"

var (
	// ErrNotFound reports a block no asked peer has.
	ErrNotFound = errors.New("not found")
	// ErrBadChunk reports that a peer sent bytes that fail their CID.
	ErrBadChunk = errors.New("chunk fails its cid")
	// ErrNoHolders reports a fetch given no holders to ask.
	ErrNoHolders = errors.New("no holders")
	// ErrClosed reports a fetch on a closed service or reader.
	ErrClosed = errors.New("fetch service closed")
)

// Defaults of [Options].
const (
	DefaultTimeout      = 30 * time.Second
	DefaultWindow       = 16
	DefaultWindowMemory = 32 << 20
)

// chunkHedge is how long a reader waits for a holder's chunk before it
// asks the next holder too. A chunk takes milliseconds.
const chunkHedge = time.Second

// recentFailure is how long a holder that failed a request is asked last
// by new readers.
const recentFailure = time.Minute

// manifestHedge is how long Manifest waits for a holder before it asks the
// next one too.
const manifestHedge = 300 * time.Millisecond

// Response status bytes.
const (
	statusOK       = 0
	statusNotFound = 1
	statusError    = 2
)

// maxBlock is the largest block served or accepted: a chunk of
// chunk.MaxChunkSize, or a manifest as large, plus the status byte.
const maxBlock = int(chunk.MaxChunkSize) + 1

// Store is what the serving side reads: Read returns c's bytes (a
// chunk's, or a manifest's for its dag-cbor CID), in dst when dst is
// large enough. A stream's handler passes the buffer of the chunk it
// served last, so serving chunk after chunk allocates none. The fetching
// side verifies every block, so Read need not hash what it serves
// (chunk.Store.GetForPeer does not).
type Store interface {
	Read(ctx context.Context, c cid.Cid, dst []byte) ([]byte, error)
}

// FromChunks serves a chunk store as it is, with chunk.Store.GetForPeer.
func FromChunks(s *chunk.Store) Store { return chunkStore{s} }

type chunkStore struct{ s *chunk.Store }

func (c chunkStore) Read(ctx context.Context, id cid.Cid, dst []byte) ([]byte, error) {
	return c.s.GetForPeer(ctx, id, dst)
}

// Options configures a [Service].
type Options struct {
	// Timeout bounds one block request ([DefaultTimeout] when zero).
	Timeout time.Duration
	// Window is how many chunks a reader has in flight ([DefaultWindow]
	// when zero).
	Window int
	// WindowMemory bounds the bytes of chunks all readers of the service
	// together hold queued or in flight beyond one chunk each
	// ([DefaultWindowMemory] when zero or less). Each reader always may
	// fetch one chunk, so that no reader waits on another and one whose
	// consumer stopped reading holds only what it already took; each
	// further chunk of its Window takes the chunk's size from this budget
	// and is not fetched while the budget is spent. So n readers hold at
	// most WindowMemory plus n chunks, and one reader alone gets its whole
	// Window while WindowMemory covers Window-1 chunks. At the defaults a
	// window is 16 chunks of 1 MiB: two readers keep theirs whole, and ten
	// readers at once (one download's ranged GETs) hold at most 42 MiB,
	// where their windows alone would allow 160.
	WindowMemory int64
	// Logger receives the service's log lines; nil discards them.
	Logger *slog.Logger
}

// Service serves blocks from a store and fetches them from peers. Create
// it with [New], stop it with [Service.Close].
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

	window *budget // Options.WindowMemory, shared by the readers
	// held is the bytes of chunks readers fetch or hold, from dispatch
	// until consumed or dropped; peakHeld its highest value. The window
	// budget bounds them; the tests check it does.
	held, peakHeld atomic.Int64

	// served and fetched are the block bytes this service sent to peers
	// and received, verified, from them.
	served, fetched atomic.Int64

	fmu      sync.Mutex
	failures map[peer.ID]int
	lastFail map[peer.ID]time.Time
}

// New registers the handler on h (serving chunks and manifests from
// store: chunk.Store.Get also serves a manifest's bytes for a dag-cbor
// CID) and returns the client side.
func New(h host.Host, store Store, o Options) *Service {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.WindowMemory <= 0 {
		o.WindowMemory = DefaultWindowMemory
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{h: h, store: store, o: o, log: log, ctx: ctx, cancel: cancel, window: newBudget(o.WindowMemory), failures: make(map[peer.ID]int), lastFail: make(map[peer.ID]time.Time)}
	if store != nil {
		h.SetStreamHandler(ID, s.handle)
	}
	return s
}

// Close removes the handler, ends the requests being served and the
// readers still open, and waits for their goroutines.
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

// track registers a goroutine; false when the service is closed.
func (s *Service) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// handle serves requests on one stream: each a CID's bytes, answered
// with a status byte and the block, until the peer closes its side.
func (s *Service) handle(st network.Stream) {
	if !s.track() {
		_ = st.Reset()
		return
	}
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	r := bufio.NewReaderSize(st, 512)
	var buf []byte // the last chunk served, reused (written out before the next read)
	for {
		_ = st.SetReadDeadline(time.Now().Add(s.o.Timeout))
		req, err := wire.ReadFrame(r, 256)
		if err != nil {
			if errors.Is(err, io.EOF) {
				_ = st.Close()
			} else {
				_ = st.Reset()
			}
			return
		}
		c, err := cid.Cast(req)
		wire.ReleaseFrame(req)
		var data []byte
		status := byte(statusOK)
		if err == nil {
			if data, err = s.store.Read(ctx, c, buf); err == nil && c.Type() == cid.Raw {
				buf = data
			}
		}
		switch {
		case errors.Is(err, chunk.ErrNotFound):
			status, data = statusNotFound, nil
		case err != nil:
			s.log.Warn("serve block", "cid", c, "err", err)
			status, data = statusError, []byte(err.Error())
		}
		_ = st.SetWriteDeadline(time.Now().Add(s.o.Timeout))
		if err := writeReply(st, status, data); err != nil {
			_ = st.Reset()
			return
		}
		if status == statusOK {
			s.served.Add(int64(len(data)))
		}
	}
}

// Served is the number of block bytes this service has sent to peers.
func (s *Service) Served() int64 { return s.served.Load() }

// Fetched is the number of block bytes this service has received from
// peers and verified.
func (s *Service) Fetched() int64 { return s.fetched.Load() }

// writeReply writes one frame: the status byte then data.
func writeReply(w io.Writer, status byte, data []byte) error {
	var hdr [11]byte
	n := putUvarint(hdr[:], uint64(len(data)+1))
	hdr[n] = status
	if _, err := w.Write(hdr[:n+1]); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	_, err := w.Write(data)
	return err
}

// Get fetches one chunk or manifest block from p, verified against c.
func (s *Service) Get(ctx context.Context, p peer.ID, c cid.Cid) ([]byte, error) {
	frame, err := s.get(ctx, p, c)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", c, p, err)
	}
	return frame[1:], nil
}

// get fetches c from p on a stream of its own and returns the reply
// frame: a status byte, then the verified block. The frame's buffer may go
// back with wire.ReleaseFrame.
func (s *Service) get(ctx context.Context, p peer.ID, c cid.Cid) ([]byte, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	stopClose := context.AfterFunc(s.ctx, cancel)
	defer stopClose()
	l, err := s.open(ctx, p)
	if err != nil {
		return nil, err
	}
	frame, err := s.ask(ctx, l, c, true)
	if err != nil {
		_ = l.st.Reset()
		return nil, err
	}
	_ = l.st.Close()
	return frame, nil
}

// lane is a stream to one peer that carries requests one after another
// (the handler serves a stream's requests until the peer closes it): a
// reader reuses its lanes, so that each chunk costs no stream set-up and
// the stream's flow-control window, once grown, stays grown.
type lane struct {
	p    peer.ID
	st   network.Stream
	r    *bufio.Reader
	used time.Time // end of its last request
}

// open opens a lane to p.
func (s *Service) open(ctx context.Context, p peer.ID) (*lane, error) {
	st, err := s.h.NewStream(ctx, p, ID)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	return &lane{p: p, st: st, r: bufio.NewReaderSize(st, 64<<10)}, nil
}

// ask requests c on l and returns the reply frame, verified. last closes
// the lane's write side after the request. The stream is reset when ctx
// ends (or after the service's timeout); after an error other than
// ErrNotFound or ErrBadChunk the lane is unusable.
func (s *Service) ask(ctx context.Context, l *lane, c cid.Cid, last bool) ([]byte, error) {
	dl := time.Now().Add(s.o.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = l.st.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = l.st.Reset() })
	frame, err := s.request(l, c, last)
	if !stop() && err == nil {
		// Reset under the reply: the bytes are whole and verified, but the
		// lane is gone.
		err = ctx.Err()
		wire.ReleaseFrame(frame)
		frame = nil
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, ErrBadChunk) && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w (%v)", cerr, err)
		}
		return nil, err
	}
	return frame, nil
}

func (s *Service) request(l *lane, c cid.Cid, last bool) ([]byte, error) {
	var buf [11 + 64]byte
	b := c.Bytes()
	n := putUvarint(buf[:], uint64(len(b)))
	if _, err := l.st.Write(append(buf[:n], b...)); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	if last {
		_ = l.st.CloseWrite()
	}
	frame, err := wire.ReadFrame(l.r, maxBlock)
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if len(frame) == 0 {
		return nil, errors.New("read reply: empty")
	}
	switch frame[0] {
	case statusOK:
	case statusNotFound:
		wire.ReleaseFrame(frame)
		return nil, ErrNotFound
	default:
		msg := string(frame[1:])
		wire.ReleaseFrame(frame)
		return nil, fmt.Errorf("remote error: %s", msg)
	}
	if err := chunk.Verify(c, frame[1:]); err != nil {
		wire.ReleaseFrame(frame)
		return nil, fmt.Errorf("%w: %v", ErrBadChunk, err)
	}
	s.fetched.Add(int64(len(frame) - 1))
	return frame, nil
}

// Manifest fetches and decodes the manifest root from the first of
// holders that has it.
func (s *Service) Manifest(ctx context.Context, root cid.Cid, holders []peer.ID) (*chunk.Manifest, error) {
	if len(holders) == 0 {
		return nil, fmt.Errorf("manifest %s: %w", root, ErrNoHolders)
	}
	// A holder that does not answer within manifestHedge is not waited
	// for alone (a holder gone without a word would cost the timeout).
	var errs []error
	m, err := hedged(ctx, len(holders), manifestHedge,
		func(ctx context.Context, i int) (*chunk.Manifest, error) {
			frame, err := s.get(ctx, holders[i], root)
			if err != nil {
				return nil, err
			}
			return chunk.DecodeManifest(frame[1:])
		},
		func(i int, err error) {
			s.fail(holders[i])
			errs = append(errs, fmt.Errorf("%s: %w", holders[i], err))
		}, nil, nil)
	if errors.Is(err, errAllFailed) {
		err = errors.Join(errs...)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", root, err)
	}
	return m, nil
}

// fail counts a failure of p.
func (s *Service) fail(p peer.ID) {
	s.fmu.Lock()
	s.failures[p]++
	s.lastFail[p] = time.Now()
	s.fmu.Unlock()
}

// FailedSince reports the holders that failed a request since t: a reader
// asks them last.
func (s *Service) FailedSince(t time.Time) map[peer.ID]bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	out := make(map[peer.ID]bool)
	for p, at := range s.lastFail {
		if at.After(t) {
			out[p] = true
		}
	}
	return out
}

// Failures reports how often each holder failed (an error, a timeout or
// wrong bytes), for QoS.
func (s *Service) Failures() map[peer.ID]int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	out := make(map[peer.ID]int, len(s.failures))
	for p, n := range s.failures {
		out[p] = n
	}
	return out
}

func putUvarint(b []byte, v uint64) int {
	i := 0
	for v >= 0x80 {
		b[i] = byte(v) | 0x80
		v >>= 7
		i++
	}
	b[i] = byte(v)
	return i + 1
}
