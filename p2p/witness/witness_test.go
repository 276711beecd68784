package witness

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/internal/p2ptest"
	"github.com/ddsnet/dds/p2p"
)

// checker answers as the test says: a report signed with key (as
// reporter id), a refusal, or after release is closed.
type checker struct {
	id      string
	key     ed25519.PrivateKey
	refuse  error
	lie     func(r billing.FailureReport) billing.FailureReport
	release chan struct{}
	started chan struct{} // gets a value as each check starts, when set
}

func (c *checker) Check(ctx context.Context, _ peer.ID, fileID, holder string) (billing.FailureReport, error) {
	if c.started != nil {
		c.started <- struct{}{}
	}
	if c.release != nil {
		select {
		case <-c.release:
		case <-ctx.Done():
			return billing.FailureReport{}, ctx.Err()
		}
	}
	if c.refuse != nil {
		return billing.FailureReport{}, c.refuse
	}
	r := billing.FailureReport{FileID: fileID, Holder: holder, Reporter: c.id, At: time.Now(), Reason: "no answer"}.Sign(c.key)
	if c.lie != nil {
		r = c.lie(r)
	}
	return r, nil
}

// newPeer starts a host with its key, and a service with c (nil: none).
func newPeer(t *testing.T, c *checker, o Options) (*p2p.Host, *Service) {
	t.Helper()
	h := p2ptest.NewHost(t)
	if c != nil {
		raw, err := p2p.RawKey(h.Libp2p().Peerstore().PrivKey(h.ID()))
		if err != nil {
			t.Fatal(err)
		}
		c.id, c.key = h.ID().String(), raw
	} else {
		c = &checker{refuse: ErrUnknown}
	}
	return h, New(h.Libp2p(), c, o)
}

// A witness's report comes back checked; its refusals match their codes.
func TestAsk(t *testing.T) {
	asker, svc := newPeer(t, nil, Options{})
	c := &checker{}
	w, _ := newPeer(t, c, Options{})
	p2ptest.Connect(t, asker, w)
	holder := asker.ID().String() + "x"
	r, err := svc.Ask(t.Context(), w.ID(), "f", holder)
	if err != nil {
		t.Fatal(err)
	}
	if r.Reporter != w.ID().String() || r.FileID != "f" || r.Holder != holder {
		t.Fatalf("report %+v", r)
	}
	for _, code := range []error{ErrHolderAnswered, ErrUnknown} {
		c.refuse = code
		if _, err := svc.Ask(t.Context(), w.ID(), "f", holder); !errors.Is(err, code) {
			t.Fatalf("refusal %v: got %v", code, err)
		}
	}
	// The holder itself cannot ask about itself.
	c.refuse = nil
	if _, err := svc.Ask(t.Context(), w.ID(), "f", asker.ID().String()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("a holder asking about itself: %v", err)
	}
}

// A lying witness's report is refused by the one asking: signed by
// another key, in another's name, about another holding.
func TestAskRefusesBadReports(t *testing.T) {
	asker, svc := newPeer(t, nil, Options{})
	c := &checker{}
	w, _ := newPeer(t, c, Options{})
	p2ptest.Connect(t, asker, w)
	_, other, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, lie := range map[string]func(billing.FailureReport) billing.FailureReport{
		"another key":     func(r billing.FailureReport) billing.FailureReport { return r.Sign(other) },
		"another's name":  func(r billing.FailureReport) billing.FailureReport { r.Reporter = "someone"; return r },
		"another holder":  func(r billing.FailureReport) billing.FailureReport { r.Holder = "h2"; return r.Sign(c.key) },
		"another file":    func(r billing.FailureReport) billing.FailureReport { r.FileID = "g"; return r.Sign(c.key) },
		"altered reason":  func(r billing.FailureReport) billing.FailureReport { r.Reason = "other"; return r },
		"empty signature": func(r billing.FailureReport) billing.FailureReport { r.Signature = nil; return r },
	} {
		c.lie = lie
		if _, err := svc.Ask(t.Context(), w.ID(), "f", "h"); !errors.Is(err, ErrBadReport) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A witness checks at most MaxConcurrent holders at once: past that it
// answers busy at once.
func TestWitnessBusy(t *testing.T) {
	asker, svc := newPeer(t, nil, Options{})
	c := &checker{release: make(chan struct{}), started: make(chan struct{}, 1)}
	w, _ := newPeer(t, c, Options{MaxConcurrent: 1})
	p2ptest.Connect(t, asker, w)
	done := make(chan error, 1)
	go func() {
		_, err := svc.Ask(t.Context(), w.ID(), "f", "h")
		done <- err
	}()
	<-c.started
	if _, err := svc.Ask(t.Context(), w.ID(), "f", "h"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second check while one runs: %v", err)
	}
	close(c.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
