package audit

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ddsnet/dds/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Protocol is the audit protocol.
const Protocol protocol.ID = "/dds/chunk/audit/2.0.0"

var (
	// ErrMissing reports a peer that answered it does not have the chunk.
	ErrMissing = errors.New("holder lacks the chunk")
	// ErrCorrupt reports a peer that answered its copy fails verification.
	ErrCorrupt = errors.New("holder's copy is corrupt")
	// ErrWrongProof reports a peer whose proof does not match.
	ErrWrongProof = errors.New("wrong proof")
	// ErrClosed reports a challenge on a closed service.
	ErrClosed = errors.New("audit service closed")
	// ErrBusy reports a peer that refused the challenge because it was
	// serving [Options.MaxConcurrent] others: it proves nothing either way.
	ErrBusy = errors.New("holder busy")
	// ErrRefused reports a peer that answered the request was malformed.
	ErrRefused = errors.New("challenge refused")
	// ErrProtocol reports a reply that breaks the protocol.
	ErrProtocol = errors.New("protocol violation")
)

// Defaults of [Options].
const (
	DefaultTimeout       = 10 * time.Second
	DefaultMaxConcurrent = 8
)

// Store gives verified chunk bytes (chunk.Store satisfies it): Get fails
// with chunk.ErrNotFound for a chunk it lacks and chunk.ErrHashMismatch
// for one whose stored bytes fail their CID.
type Store interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// Options configures a [Service].
type Options struct {
	// Timeout bounds one challenge, on both sides ([DefaultTimeout] when
	// zero).
	Timeout time.Duration
	// MaxConcurrent is how many challenges are served at once
	// ([DefaultMaxConcurrent] when zero); more are refused at once.
	MaxConcurrent int
	// Logger receives the service's log lines; nil discards them.
	Logger *slog.Logger
	// OnCorrupt is called when this node's own copy of c fails
	// verification, while answering a challenge or checking a peer's
	// proof. It must not block long. Nil: not called.
	OnCorrupt func(c cid.Cid)
}

// Service answers challenges from its store and challenges peers. Create
// it with [New], stop it with [Service.Close].
type Service struct {
	h     host.Host
	store Store
	o     Options
	log   *slog.Logger
	slots chan struct{} // one token per challenge being served

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New registers the handler of [Protocol] on h, answering from store
// (which must not be nil), and returns the challenging side.
func New(h host.Host, store Store, o Options) *Service {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		h: h, store: store, o: o, log: log,
		slots: make(chan struct{}, o.MaxConcurrent),
		ctx:   ctx, cancel: cancel,
	}
	h.SetStreamHandler(Protocol, s.handle)
	return s
}

// Close removes the handler, ends the challenges being served and the
// ones in flight, and waits for the handlers to return.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.h.RemoveStreamHandler(Protocol)
	s.cancel()
	s.wg.Wait()
	return nil
}

// track registers a handler; false when the service is closed.
func (s *Service) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// corrupt reports this node's own bad copy of c.
func (s *Service) corrupt(c cid.Cid, err error) {
	s.log.Warn("own copy fails verification", "cid", c, "err", err)
	if s.o.OnCorrupt != nil {
		s.o.OnCorrupt(c)
	}
}

// handle answers one challenge: it reads the request, takes a slot (or
// refuses with statusBusy), hashes the nonce and its copy of the chunk,
// and writes the reply. The whole exchange is bounded by Timeout.
func (s *Service) handle(st network.Stream) {
	if !s.track() {
		_ = st.Reset()
		return
	}
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	from := st.Conn().RemotePeer()

	reply := func(status byte, proof []byte) {
		b := append([]byte{status}, proof...)
		if _, err := st.Write(b); err != nil {
			_ = st.Reset()
			return
		}
		_ = st.Close()
	}

	nonce, c, err := readRequest(bufio.NewReaderSize(st, 64))
	if err != nil {
		s.log.Debug("bad audit request", "peer", from, "err", err)
		reply(statusBadRequest, nil)
		return
	}

	select {
	case s.slots <- struct{}{}:
	default:
		s.log.Debug("audit refused: busy", "peer", from, "cid", c)
		reply(statusBusy, nil)
		return
	}
	status, proof := s.answer(ctx, nonce[:], c)
	<-s.slots
	if status != statusOK {
		reply(status, nil)
		return
	}
	reply(statusOK, proof[:])
}

// answer computes the reply to a challenge for c.
func (s *Service) answer(ctx context.Context, nonce []byte, c cid.Cid) (byte, [32]byte) {
	data, err := s.store.Get(ctx, c)
	switch {
	case err == nil:
		return statusOK, Proof(nonce, s.h.ID(), data)
	case errors.Is(err, chunk.ErrNotFound):
		return statusMissing, [32]byte{}
	case errors.Is(err, chunk.ErrHashMismatch):
		s.corrupt(c, err)
		return statusCorrupt, [32]byte{}
	default:
		if ctx.Err() == nil {
			s.log.Warn("answer audit", "cid", c, "err", err)
		}
		return statusError, [32]byte{}
	}
}

// Challenge asks p to prove it holds chunk c: it sends a fresh random
// nonce and compares the peer's proof with [Proof] of the nonce and this
// node's own copy.
//
// nil means proven. The peer's failures wrap [ErrMissing], [ErrCorrupt]
// or [ErrWrongProof]. When this node cannot check (its own copy is absent
// or bad) the error wraps chunk.ErrNotFound or chunk.ErrHashMismatch, the
// peer is not asked and not to blame, and [Options.OnCorrupt] is called
// for a bad copy. A peer at its limit gives [ErrBusy]; a closed service
// [ErrClosed]; an unreachable peer, a timeout (wrapping
// context.DeadlineExceeded) or a reply that breaks the protocol
// ([ErrProtocol]) give other wrapped errors.
func (s *Service) Challenge(ctx context.Context, p peer.ID, c cid.Cid) error {
	if err := s.challenge(ctx, p, c, nil); err != nil {
		return fmt.Errorf("audit %s at %s: %w", c, p, err)
	}
	return nil
}

// ChallengeWith is [Service.Challenge] by a node that does not hold c:
// data are c's bytes, which the caller has verified against c (fetched
// from another holder, say). It returns the same errors, but for those of
// this node's own copy.
func (s *Service) ChallengeWith(ctx context.Context, p peer.ID, c cid.Cid, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	if err := s.challenge(ctx, p, c, data); err != nil {
		return fmt.Errorf("audit %s at %s: %w", c, p, err)
	}
	return nil
}

// challenge asks p for a proof of c, computing the expected one from data
// or, when data is nil, from this node's copy.
func (s *Service) challenge(ctx context.Context, p peer.ID, c cid.Cid, data []byte) error {
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	stopClose := context.AfterFunc(s.ctx, cancel)
	defer stopClose()

	var nonce [NonceSize]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	if data == nil {
		var err error
		if data, err = s.store.Get(ctx, c); err != nil {
			if errors.Is(err, chunk.ErrHashMismatch) {
				s.corrupt(c, err)
			}
			return fmt.Errorf("own copy: %w", err)
		}
	}
	want := Proof(nonce[:], p, data)

	status, got, err := s.ask(ctx, p, nonce[:], c)
	if err != nil {
		switch {
		case s.ctx.Err() != nil:
			return fmt.Errorf("%w (%v)", ErrClosed, err)
		case ctx.Err() != nil:
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		case isTimeout(err):
			// The stream's deadline (the context's) struck first.
			return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return err
	}
	switch status {
	case statusOK:
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return ErrWrongProof
		}
		return nil
	case statusMissing:
		return ErrMissing
	case statusCorrupt:
		return ErrCorrupt
	case statusBusy:
		return ErrBusy
	case statusBadRequest:
		return ErrRefused
	case statusError:
		return errors.New("holder failed to read its store")
	default:
		return fmt.Errorf("%w: unknown status %d", ErrProtocol, status)
	}
}

// isTimeout reports a stream error that is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// ask sends the challenge to p and reads its reply.
func (s *Service) ask(ctx context.Context, p peer.ID, nonce []byte, c cid.Cid) (byte, [32]byte, error) {
	st, err := s.h.NewStream(ctx, p, Protocol)
	if err != nil {
		return 0, [32]byte{}, fmt.Errorf("open stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	if _, err := st.Write(appendRequest(make([]byte, 0, 2+NonceSize+maxCID), nonce, c)); err != nil {
		_ = st.Reset()
		return 0, [32]byte{}, fmt.Errorf("send challenge: %w", err)
	}
	_ = st.CloseWrite()
	status, proof, err := readReply(st)
	if err != nil {
		_ = st.Reset()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The peer closed its side without a whole reply.
			err = fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return 0, [32]byte{}, fmt.Errorf("read reply: %w", err)
	}
	_ = st.Close()
	return status, proof, nil
}
