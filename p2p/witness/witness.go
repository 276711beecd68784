// Package witness lets a member ask another to check a holder for itself
// before the ledger drops it. Dropping a holder makes it delete its copy,
// so the ledger takes a Drop only with failure reports from at least
// billing.MinFailureReports members other than the holder
// (billing.FailureReport): the member that saw the holder fail asks others
// here, and each challenges the holder itself and signs a report only if
// the holder fails it. No member signs on another's word.
//
// The shape is go-libp2p's ping: a protocol ID, a [Service] that registers
// the handler, and a client call ([Service.Ask]); refusals are typed
// ([ErrHolderAnswered], [ErrUnknown], [ErrBusy]) and match with errors.Is
// on the caller's side.
package witness

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/p2p/wire"
)

// Protocol is the witness protocol.
const Protocol protocol.ID = "/dds/witness/1.0.0"

// The witness's refusals.
const (
	// ErrHolderAnswered: the witness challenged the holder and it passed.
	ErrHolderAnswered wire.Code = "holder answered the witness's challenge"
	// ErrUnknown: the witness's ledger does not show the holder holding
	// the file (yet, or any more), or it cannot check it.
	ErrUnknown wire.Code = "witness does not know the holding"
	// ErrBusy: the witness is checking as many holders as it will at once.
	ErrBusy wire.Code = "witness busy"
)

// ErrBadReport reports an answer that is not the witness's valid report
// about the holding asked.
var ErrBadReport = errors.New("witness answered a report that does not hold")

// Sizes and times.
const (
	MaxRequest  = 4 << 10 // a request's limit
	MaxResponse = 8 << 10 // an answer's limit
	// DefaultTimeout bounds one check: a witness may fetch a chunk from
	// another holder and challenge the holder (each bounded by its own
	// protocol's timeout) before it answers.
	DefaultTimeout = 45 * time.Second
	// DefaultMaxConcurrent bounds the checks a witness runs at once.
	DefaultMaxConcurrent = 4
)

// Checker is what a witness does with a request: check holder's holding
// of the file for itself, and return its signed report when the holder
// failed, or one of the refusals.
type Checker interface {
	Check(ctx context.Context, from peer.ID, fileID, holder string) (billing.FailureReport, error)
}

// Options configures a [Service].
type Options struct {
	Timeout       time.Duration // [DefaultTimeout] when 0
	MaxConcurrent int           // [DefaultMaxConcurrent] when 0
	Handler       []wire.HandlerOption
}

// Request asks a witness about one holding.
type Request struct {
	FileID string `json:"file_id"`
	Holder string `json:"holder"`
}

type response struct {
	Report billing.FailureReport `json:"report"`
}

// Service answers the witness protocol on a host and asks other members.
type Service struct {
	h       host.Host
	timeout time.Duration
	slots   chan struct{}
}

// New registers the handler on h, with c checking each request.
func New(h host.Host, c Checker, o Options) *Service {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	s := &Service{h: h, timeout: o.Timeout, slots: make(chan struct{}, o.MaxConcurrent)}
	wire.Handle(h, Protocol, o.Timeout, MaxRequest, func(ctx context.Context, from peer.ID, req Request) (response, error) {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			return response{}, ErrBusy
		}
		if req.Holder == from.String() {
			return response{}, fmt.Errorf("%w: a holder asks about itself", ErrUnknown)
		}
		r, err := c.Check(ctx, from, req.FileID, req.Holder)
		if err != nil {
			return response{}, err
		}
		return response{Report: r}, nil
	}, o.Handler...)
	return s
}

// Ask asks member p to check holder's holding of file fileID, and returns
// p's report when the holder failed it: checked to be p's, about that
// holding, validly signed ([ErrBadReport] otherwise). A witness's refusal
// matches its Code with errors.Is.
func (s *Service) Ask(ctx context.Context, p peer.ID, fileID, holder string) (billing.FailureReport, error) {
	var resp response
	if err := wire.Call(ctx, s.h, p, Protocol, s.timeout, Request{FileID: fileID, Holder: holder}, &resp, MaxResponse); err != nil {
		return billing.FailureReport{}, err
	}
	r := resp.Report
	if r.FileID != fileID || r.Holder != holder || r.Reporter != p.String() {
		return billing.FailureReport{}, fmt.Errorf("%w: from %s about %s/%s", ErrBadReport, p, r.FileID, r.Holder)
	}
	key, err := billing.PeerKey(p.String())
	if err != nil || !ed25519.Verify(key, r.Canonical(), r.Signature) {
		return billing.FailureReport{}, fmt.Errorf("%w: bad signature from %s", ErrBadReport, p)
	}
	return r, nil
}
