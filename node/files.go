package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/chunk"
)

// DefaultDuration is the storage term of an upload that names none: 30 days.
const DefaultDuration int64 = 2592000

// Upload stages the bytes of a new file and has its price agreed: the body
// is chunked, hashed and written as it streams (never held whole), then a
// quote is attested and recorded in the ledger. It returns the file in state
// quoted. Nothing stays staged when it fails.
func (n *Node) Upload(ctx context.Context, u Upload) (_ File, err error) {
	defer func() { n.countRefusal(err) }()
	p, err := n.prepareUpload(u)
	if err != nil {
		return File{}, err
	}
	if u.MinSize > n.cfg.MaxUpload {
		return File{}, fmt.Errorf("%w: the file is larger than %d bytes (the node's upload limit)", ErrTooLarge, n.cfg.MaxUpload)
	}
	free := n.free()
	if free <= 0 || u.MinSize > free {
		return File{}, n.full(free)
	}
	limit := min(n.cfg.MaxUpload, free)
	// Until the quote is in this node's replica of the ledger, reconcile
	// must not take the staged pin for a leftover.
	n.staging.Store(p.id, time.Now())
	start := time.Now()
	st, err := n.store.Stage(ctx, u.Body, p.settings.ChunkSize, limit)
	n.metrics.quoteStages.WithLabelValues("ingest").Observe(time.Since(start).Seconds())
	if err != nil {
		n.staging.Delete(p.id)
		switch {
		case errors.Is(err, chunk.ErrTooLarge) && limit < n.cfg.MaxUpload:
			return File{}, n.full(limit)
		case errors.Is(err, chunk.ErrTooLarge):
			return File{}, fmt.Errorf("%w: the file is larger than %d bytes (the node's upload limit)", ErrTooLarge, limit)
		}
		return File{}, fmt.Errorf("stage upload: %w", n.noSpace(err))
	}
	defer st.Release()
	return n.quoteUpload(ctx, p, st.Root(), st.Manifest(), func(ctx context.Context) error { return st.Pin(ctx, stagePrefix+p.id) })
}

// preparedUpload is an upload checked and given its id.
type preparedUpload struct {
	u          Upload
	settings   billing.Settings
	id         string
	additional map[string]json.RawMessage
	consent    *billing.AccountAuth // the owner's, nil for none
}

// prepareUpload checks what an upload asks, before its bytes are read.
func (n *Node) prepareUpload(u Upload) (preparedUpload, error) {
	s, ok := n.settings()
	if !ok {
		return preparedUpload{}, fmt.Errorf("%w: the network is not initialised", ErrUnavailable)
	}
	if err := n.canQuote(s); err != nil {
		return preparedUpload{}, err
	}
	if u.Duration == 0 {
		u.Duration = DefaultDuration
	}
	if err := validateUpload(u, s); err != nil {
		return preparedUpload{}, err
	}
	if u.Private && u.Owner.Account == "" {
		return preparedUpload{}, &FieldError{Pointer: "/data/attributes/private", Code: api.CodeInvalidValue, Detail: "a private file needs an owner: upload it with an account's API key"}
	}
	additional, err := compactAdditional(u.Additional)
	if err != nil {
		return preparedUpload{}, err
	}
	p := preparedUpload{u: u, settings: s, id: uuid.NewString(), additional: additional}
	if u.Owner.Account != "" {
		p.consent = billing.Consent(u.Owner.Account, u.Owner.APIKey, billing.OwnMessage(u.Owner.Account, p.id, u.Private))
	}
	return p, nil
}

// quoteUpload has the quote of staged bytes (root, m) agreed while pin
// makes them durable under the upload's staged pin; when it fails, nothing
// stays pinned.
func (n *Node) quoteUpload(ctx context.Context, p preparedUpload, root cid.Cid, m *chunk.Manifest, pin func(context.Context) error) (File, error) {
	n.staging.Store(p.id, time.Now())
	n.unpaid.add(p.id, root, m) // not for peers until paid
	// The staged bytes are made durable (the pin's synced commit) while
	// the peers attest the quote; the quote goes to the ledger only once
	// both are done, so a quote committed always has its bytes on disk.
	pinned := make(chan error, 1)
	go func() {
		start := time.Now()
		err := pin(ctx)
		n.metrics.quoteStages.WithLabelValues("pin").Observe(time.Since(start).Seconds())
		pinned <- err
	}()
	f, err := n.quoteNew(ctx, p.settings, p.id, root, m, p.u, p.additional, p.consent, pinned)
	if err != nil {
		// The request failed: nothing it staged stays pinned.
		if uerr := n.store.Unpin(context.WithoutCancel(ctx), stagePrefix+p.id); uerr != nil {
			n.log.Warn("unpin failed upload", "file", p.id, "err", uerr)
		}
		n.staging.Delete(p.id)
		n.unpaid.remove(p.id)
		return File{}, err
	}
	n.metrics.uploads.Inc()
	n.metrics.uploadBytes.Add(float64(m.Size))
	return f, nil
}

// uploadManifest is Upload of bytes already in the store, as the manifest
// m (the parts of an S3 multipart upload put together): nothing is copied.
func (n *Node) uploadManifest(ctx context.Context, u Upload, m *chunk.Manifest) (_ File, err error) {
	defer func() { n.countRefusal(err) }()
	p, err := n.prepareUpload(u)
	if err != nil {
		return File{}, err
	}
	if m.Size > n.cfg.MaxUpload {
		return File{}, fmt.Errorf("%w: the file is larger than %d bytes (the node's upload limit)", ErrTooLarge, n.cfg.MaxUpload)
	}
	defer n.store.Hold(m.CID())() // no GC between the manifest's write and its pin
	root, err := n.store.PutManifest(ctx, m)
	if err != nil {
		return File{}, fmt.Errorf("store manifest: %w", n.noSpace(err))
	}
	return n.quoteUpload(ctx, p, root, m, func(ctx context.Context) error { return n.store.Pin(ctx, stagePrefix+p.id, root) })
}

// full is the refusal of an upload that does not fit in free bytes: the
// data dir's file system is full, or the node's capacity is.
func (n *Node) full(free int64) error {
	if n.diskFull() {
		return fmt.Errorf("%w: this node's disk is full", ErrInsufficientStorage)
	}
	return fmt.Errorf("%w: this node has %d bytes of room left", ErrInsufficientStorage, free)
}

// quoteNew has the quote of a staged upload attested and commits it, once
// pinned (the staged pin's result, received exactly once here whatever
// happens, so that the pin has ended when quoteNew returns) is nil.
func (n *Node) quoteNew(ctx context.Context, s billing.Settings, id string, root cid.Cid, m *chunk.Manifest, u Upload, additional map[string]json.RawMessage, owner *billing.AccountAuth, pinned <-chan error) (File, error) {
	now := n.now()
	q := billing.Quote{
		FileID:    id,
		Kind:      billing.QuoteNew,
		Issuer:    n.PeerID(),
		CID:       root.String(),
		Size:      m.Size,
		Name:      u.Name,
		Duration:  u.Duration,
		Replicas:  s.Replicas,
		CreatedAt: now,
		ExpiresAt: now.Add(time.Duration(s.QuoteLifetime) * time.Second),
	}
	q.Price = billing.Price(s, q.Size, q.Duration, q.Replicas)
	start := time.Now()
	atts, err := n.attest(ctx, s, q)
	if err == nil {
		n.metrics.quoteStages.WithLabelValues("attest").Observe(time.Since(start).Seconds())
	}
	perr := <-pinned
	if err != nil {
		return File{}, err
	}
	if perr != nil {
		return File{}, fmt.Errorf("stage upload: %w", n.noSpace(perr))
	}
	start = time.Now()
	res, err := n.apply(ctx, billing.Command{Time: now, Quote: &billing.PutQuote{Quote: q, Additional: additional, Attestations: atts, Owner: owner, Private: u.Private}})
	if err != nil {
		return File{}, err
	}
	n.metrics.quoteStages.WithLabelValues("commit").Observe(time.Since(start).Seconds())
	return fileOf(*res.File), nil
}

// canQuote says whether the network can attest a quote now.
func (n *Node) canQuote(s billing.Settings) error {
	if s.SelfAttest {
		return nil
	}
	var nodes int
	n.ledger.Read(func(st *billing.State) { nodes = len(st.Nodes()) })
	if nodes < s.Threshold+1 {
		return fmt.Errorf("%w: quotes need %d registered nodes (the issuer and %d attesting peers); the network has %d", ErrUnavailable, s.Threshold+1, s.Threshold, nodes)
	}
	return nil
}

func validateUpload(u Upload, s billing.Settings) error {
	var errs []error
	switch {
	case u.Name == "":
		errs = append(errs, &FieldError{Pointer: "/data/attributes/name", Code: api.CodeRequired, Detail: "name is required"})
	case len(u.Name) > 255:
		errs = append(errs, &FieldError{Pointer: "/data/attributes/name", Code: api.CodeTooLong, Detail: "name must be at most 255 bytes"})
	case !validName(u.Name):
		errs = append(errs, &FieldError{Pointer: "/data/attributes/name", Code: api.CodeInvalidValue, Detail: "name must be UTF-8 without control characters"})
	}
	if u.Duration < 1 || u.Duration > s.MaxTerm {
		errs = append(errs, &FieldError{Pointer: "/data/attributes/duration", Code: api.CodeInvalidValue,
			Detail: fmt.Sprintf("duration must be a whole number of seconds from 1 to %d", s.MaxTerm)})
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// compactAdditional gives the attributes a canonical form, so every replica
// of the ledger holds the same bytes.
func compactAdditional(in map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]json.RawMessage, len(in))
	for k, v := range in {
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return nil, &FieldError{Pointer: "/data/attributes/additional/" + k, Code: api.CodeInvalidValue, Detail: "not valid JSON"}
		}
		out[k] = buf.Bytes()
	}
	return out, nil
}

// File returns the file with this id as the ledger has it now: this
// replica first catches up with the leader, so that what any node
// acknowledged (an upload, a payment, an extension, through this node or
// another) shows here at once. A node that cannot tell whether its replica
// is current (no leader reachable: a partition, an election) says so
// rather than answer from a view that may be behind; the fault suite's
// history checker (testnet TestFaultsLoseNothing) found such stale reads,
// at other nodes and at the very node that had just taken the write.
func (n *Node) File(ctx context.Context, id string) (File, error) {
	if !n.catchUp(ctx) {
		return File{}, errBehind
	}
	f, ok := n.ledgerFile(id)
	if !ok {
		return File{}, errNoFile(id, true)
	}
	return fileOf(f), nil
}

// Files lists files in the order they were created, limit at a time after
// the cursor after ("" for the first page; a file id, or a cursor from an
// earlier page). next is the cursor of the next page, "" after the last
// one.
func (n *Node) Files(ctx context.Context, after string, limit int) ([]File, string, error) {
	if limit < 1 {
		limit = 100
	}
	checked := true
	if id, _, _, err := billing.ParseCursor(after); err == nil && after != "" {
		_, _, checked = n.freshFile(ctx, id, nil) // a cursor this replica may not know yet
	}
	var list []billing.File
	known := true
	n.ledger.Read(func(st *billing.State) { list, known = st.Page(after, limit+1) })
	if !known {
		if !checked {
			return nil, "", errNoFile(after, false)
		}
		return nil, "", fmt.Errorf("%w: no file %s to page after", ErrNotFound, after)
	}
	out, next := filePage(list, limit)
	return out, next, nil
}

// filePage is a page of at most limit of list (asked for limit+1, so that
// one more says a next page follows) and the cursor of the next page.
func filePage(list []billing.File, limit int) ([]File, string) {
	next := ""
	if len(list) > limit {
		list = list[:limit]
		// The cursor carries the file's creation time: it still places
		// the next page after the file is forgotten (billing.FileCursor).
		next = billing.FileCursor(list[limit-1])
	}
	out := make([]File, len(list))
	for i, f := range list {
		out[i] = fileOf(f)
	}
	return out, next
}

// Content returns a file whose bytes can be read now: ErrPaymentRequired
// (with the file and its quote) while it is unpaid, ErrGone once its term
// ended or its quote was cancelled.
//
// A file this replica shows unpaid, or paid and not yet stored, may have
// moved on through another node: the replica catches up with the leader
// before it refuses, or before Read picks the nodes to read from.
func (n *Node) Content(ctx context.Context, id string) (File, error) {
	replicas := n.replicas()
	lf, ok, checked := n.freshFile(ctx, id, func(f billing.File) bool {
		return f.State == billing.StateQuoted || f.Placing(replicas)
	})
	if !ok {
		return File{}, errNoFile(id, checked)
	}
	f := fileOf(lf)
	switch f.State {
	case api.StateQuoted:
		return f, fmt.Errorf("%w: file %s is not paid", ErrPaymentRequired, id)
	case api.StateExpired, api.StateCancelled, api.StateDeleted:
		return f, fmt.Errorf("%w: file %s is %s and its data is gone", ErrGone, id, f.State)
	}
	return f, nil
}

// Read streams the verified bytes [off, off+length) of a readable file
// (length -1: to the end).
func (n *Node) Read(ctx context.Context, id string, off, length int64) (io.ReadCloser, error) {
	f, err := n.Content(ctx, id)
	if err != nil {
		return nil, err
	}
	root, err := cid.Decode(f.CID)
	if err != nil {
		return nil, fmt.Errorf("file %s has a bad cid: %w", id, err)
	}
	var holders []peer.ID // the others
	sources := f.Replicas
	if f.State != api.StateStored {
		// Paid, its copies still being placed: the node that took the
		// upload keeps it staged until it is stored.
		if lf, ok := n.ledgerFile(id); ok && !slices.Contains(sources, lf.Issuer) {
			sources = append(slices.Clip(sources), lf.Issuer)
		}
	}
	for _, h := range sources {
		if p, err := peer.Decode(h); err == nil && h != n.PeerID() {
			holders = append(holders, p)
		}
	}
	holders = n.liveFirst(holders)
	var r io.ReadCloser
	if m, err := n.store.Manifest(ctx, root); err == nil && n.holdsLocally(ctx, id) {
		local, err := n.store.NewReader(ctx, m, off, length)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", id, err)
		}
		end := m.Size
		if length >= 0 {
			end = off + length
		}
		r = &healingReader{n: n, ctx: ctx, m: m, holders: holders, off: off, end: end, r: local, local: true}
	} else {
		// Not here: fetch the chunks from the nodes that hold the file.
		if len(holders) == 0 {
			return nil, fmt.Errorf("%w: no node holds file %s yet", ErrUnavailable, id)
		}
		m, err := n.fetch.Manifest(ctx, root, holders)
		if err != nil {
			return nil, fmt.Errorf("%w: fetch the manifest of %s: %v", ErrUnavailable, id, err)
		}
		if off > m.Size || (length >= 0 && off+length > m.Size) {
			return nil, fmt.Errorf("%w: range outside the file", ErrInvalid)
		}
		r = n.fetch.NewReader(ctx, m, holders, off, length)
	}
	return &countingReader{ReadCloser: r, add: n.metrics.readBytes.Add}, nil
}

// liveFirst orders peers for reads: first those that have not failed a
// request in the last minute (a holder gone without a word fails by
// timeout, and the status feed still shows it live for a while), then
// those the feed shows live, then those without a recent failed audit,
// then by fewer failed fetches.
func (n *Node) liveFirst(ps []peer.ID) []peer.ID {
	live := map[string]bool{}
	if n.feed != nil {
		for _, p := range n.feed.Live(n.cfg.PeerTimeout) {
			live[p.Status.PeerID] = true
		}
	}
	suspect := n.suspects()
	failures := n.fetch.Failures()
	failed := n.fetch.FailedSince(time.Now().Add(-time.Minute))
	rank := func(p peer.ID) [4]int {
		r := [4]int{0, 0, 0, failures[p]}
		if failed[p] {
			r[0] = 1
		}
		if n.feed != nil && !live[p.String()] {
			r[1] = 1
		}
		if suspect[p.String()] {
			r[2] = 1
		}
		return r
	}
	slices.SortStableFunc(ps, func(a, b peer.ID) int {
		ra, rb := rank(a), rank(b)
		return slices.Compare(ra[:], rb[:])
	})
	return ps
}

// holdsLocally reports whether this node keeps the file's bytes: pinned
// for its lease, or still staged from the upload it took.
func (n *Node) holdsLocally(ctx context.Context, id string) bool {
	for _, owner := range []string{leasePrefix + id, stagePrefix + id} {
		pins, err := n.store.Pins(ctx, owner)
		if err == nil && len(pins) > 0 {
			if _, ok := pins[owner]; ok {
				return true
			}
		}
	}
	return false
}

// Holds reports whether this node keeps every chunk of the file, pinned.
func (n *Node) Holds(ctx context.Context, id string) bool {
	f, ok := n.ledgerFile(id)
	if !ok || !n.holdsLocally(ctx, id) {
		return false
	}
	root, err := cid.Decode(f.CID)
	if err != nil {
		return false
	}
	m, err := n.store.Manifest(ctx, root)
	if err != nil {
		return false
	}
	for _, ref := range m.Chunks {
		if has, err := n.store.Has(ctx, ref.CID); err != nil || !has {
			return false
		}
	}
	return true
}

// countingReader counts the bytes read from a download for the metrics.
type countingReader struct {
	io.ReadCloser
	add func(float64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.add(float64(k))
	return k, err
}

// WriteTo keeps the inner reader's WriteTo in reach of io.Copy: the fetch
// reader writes each verified chunk from its own buffer, where a copy
// through Read would move every byte once more, and the HTTP response
// would take it 32 KiB at a time. An inner reader without one is copied
// as it was before (w's ReadFrom, counted by Read).
func (c *countingReader) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := c.ReadCloser.(io.WriterTo); ok {
		return wt.WriteTo(countingWriter{w, c.add})
	}
	return io.Copy(w, struct{ io.Reader }{c})
}

type countingWriter struct {
	w   io.Writer
	add func(float64)
}

func (c countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.add(float64(k))
	return k, err
}

// Patch merges additional attributes and/or asks for a longer term. A longer
// term is answered with an extension quote (quoted true); the term grows once
// it is paid.
func (n *Node) Patch(ctx context.Context, id string, p Patch) (File, bool, error) {
	// A change is made to the ledger's current record (an extension quote
	// names the term it extends): catch up first, as a read does.
	if !n.catchUp(ctx) {
		return File{}, false, errBehind
	}
	f, ok := n.ledgerFile(id)
	if !ok {
		return File{}, false, errNoFile(id, true)
	}
	if f.Ended() {
		return File{}, false, fmt.Errorf("%w: file %s is %s", ErrGone, id, f.State)
	}
	s, _ := n.settings()
	if p.Duration != nil {
		if *p.Duration < 1 || *p.Duration > s.MaxTerm {
			return File{}, false, &FieldError{Pointer: "/data/attributes/duration", Code: api.CodeInvalidValue,
				Detail: fmt.Sprintf("duration must be a whole number of seconds from 1 to %d", s.MaxTerm)}
		}
		if *p.Duration <= f.Duration {
			return File{}, false, fmt.Errorf("%w: the new term (%d s) must be longer than today's (%d s)", ErrConflict, *p.Duration, f.Duration)
		}
		if err := n.canQuote(s); err != nil {
			return File{}, false, err
		}
	}
	if len(p.Additional) > 0 {
		additional, err := compactAdditional(p.Additional)
		if err != nil {
			return File{}, false, err
		}
		upd := &billing.Update{FileID: id, Additional: additional}
		if f.Owner != "" {
			if err := ownerOnly(f, p.By); err != nil {
				return File{}, false, err
			}
			upd.Rev = f.Rev
			upd.Auth = billing.Consent(p.By.Account, p.By.APIKey, billing.UpdateMessage(p.By.Account, id, f.Rev, additional))
		}
		res, err := n.apply(ctx, billing.Command{Update: upd})
		if err != nil {
			return File{}, false, err
		}
		f = *res.File
	}
	if p.Duration == nil {
		return fileOf(f), false, nil
	}
	now := n.now()
	q := billing.Quote{
		FileID:       id,
		Kind:         billing.QuoteExtension,
		Issuer:       n.PeerID(),
		CID:          f.CID,
		Size:         f.Size,
		Name:         f.Name,
		Duration:     *p.Duration,
		PrevDuration: f.Duration,
		Replicas:     s.Replicas,
		CreatedAt:    now,
		ExpiresAt:    now.Add(time.Duration(s.QuoteLifetime) * time.Second),
	}
	q.Price = billing.Price(s, q.Size, q.Duration-q.PrevDuration, q.Replicas)
	atts, err := n.attest(ctx, s, q)
	if err != nil {
		return File{}, false, err
	}
	res, err := n.apply(ctx, billing.Command{Time: now, Quote: &billing.PutQuote{Quote: q, Attestations: atts}})
	if err != nil {
		return File{}, false, err
	}
	return fileOf(*res.File), true, nil
}
