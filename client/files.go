package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/ddsnet/dds/api"
)

// File is a file resource: its id and its attributes.
type File struct {
	ID string
	api.File
	// Payment is the payment of an upload paid from the account's balance
	// at once (UploadOptions.PayFromBalance), nil otherwise.
	Payment *Payment `json:"-"`
}

// Document is f as the JSON:API document the server sends.
func (f *File) Document() api.Document[api.File] {
	return api.Document[api.File]{Data: f.resource()}
}

func (f *File) resource() api.Resource[api.File] {
	return api.Resource[api.File]{
		Type:       api.TypeFile,
		ID:         f.ID,
		Attributes: f.File,
		Links:      &api.Links{Self: "/files/" + escape(f.ID)},
	}
}

// FileList is files as one JSON:API list document.
func FileList(files []File) api.ListDocument[api.File] {
	doc := api.ListDocument[api.File]{Data: make([]api.Resource[api.File], 0, len(files))}
	for i := range files {
		doc.Data = append(doc.Data, files[i].resource())
	}
	return doc
}

// UploadOptions describe a new file.
type UploadOptions struct {
	Name       string
	Duration   int64 // seconds, 0 = server default
	Additional map[string]json.RawMessage
	// Size is the body's length when known (>= 0), sent as Content-Length;
	// -1 when unknown (chunked). With 0 and a body that is not empty the
	// request is sent chunked.
	Size           int64
	IdempotencyKey string
	// Private and PayFromBalance need the client's API key (WithAPIKey):
	// only the account reads a private file; a file paid from the balance
	// is answered paid (state storing, with File.Payment), or with its
	// quote when the balance is below the price.
	Private        bool
	PayFromBalance bool
}

func (o UploadOptions) header() (http.Header, error) {
	h := http.Header{}
	if o.IdempotencyKey != "" {
		h.Set("Idempotency-Key", o.IdempotencyKey)
	}
	if len(o.Additional) > 0 {
		b, err := json.Marshal(o.Additional)
		if err != nil {
			return nil, fmt.Errorf("encode additional: %w", err)
		}
		h.Set("X-Additional", string(b))
	}
	return h, nil
}

// Upload streams r with the octet-stream form of POST /files. The server's
// 402 is the normal answer and is returned as the File (with its quote),
// not as an error.
func (c *Client) Upload(ctx context.Context, r io.Reader, o UploadOptions) (*File, error) {
	if o.Size < -1 {
		return nil, fmt.Errorf("upload: %w: size %d", ErrInvalidOption, o.Size)
	}
	h, err := o.header()
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	q := url.Values{"name": {o.Name}}
	if o.Duration != 0 {
		q.Set("duration", strconv.FormatInt(o.Duration, 10))
	}
	o.accountQuery(q)
	if r == nil {
		r = http.NoBody
	}
	req := request{method: http.MethodPost, path: "/files", query: q, body: r,
		length: o.Size, ctype: "application/octet-stream", header: h}
	return c.fileCall(ctx, req)
}

// uploadHead is the JSON upload's attributes other than the data.
type uploadHead struct {
	Name       string                     `json:"name"`
	Duration   int64                      `json:"duration,omitempty"`
	Additional map[string]json.RawMessage `json:"additional,omitempty"`
	Private    bool                       `json:"private,omitempty"`
	Pay        bool                       `json:"pay_from_balance,omitempty"`
}

// UploadJSON sends the JSON:API form of POST /files, the bytes of r in
// base64, streamed through an io.Pipe: the file is never held whole. Like
// [Client.Upload] it returns the 402 quote as the File. It returns once the
// request is answered and r is no longer read.
func (c *Client) UploadJSON(ctx context.Context, r io.Reader, o UploadOptions) (*File, error) {
	if o.Size < -1 {
		return nil, fmt.Errorf("upload: %w: size %d", ErrInvalidOption, o.Size)
	}
	h := http.Header{}
	if o.IdempotencyKey != "" {
		h.Set("Idempotency-Key", o.IdempotencyKey)
	}
	attrs, err := json.Marshal(uploadHead{Name: o.Name, Duration: o.Duration, Additional: o.Additional, Private: o.Private, Pay: o.PayFromBalance})
	if err != nil {
		return nil, fmt.Errorf("upload: encode attributes: %w", err)
	}
	prefix := `{"data":{"type":"file","attributes":` + string(attrs[:len(attrs)-1]) + `,"data":"`
	const suffix = `"}}}`
	length := int64(-1)
	if o.Size > 0 {
		length = int64(len(prefix)) + int64(base64.StdEncoding.EncodedLen(int(o.Size))) + int64(len(suffix))
	}
	if r == nil {
		r = http.NoBody
	}

	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(writeBase64Document(pw, prefix, r, suffix))
	}()
	f, err := c.fileCall(ctx, request{method: http.MethodPost, path: "/files", body: pr,
		length: length, ctype: api.MediaType, header: h})
	pr.CloseWithError(errors.New("request finished"))
	<-done
	return f, err
}

// writeBase64Document writes prefix, r in base64, then suffix to w, in
// blocks of 64 KiB of base64.
func writeBase64Document(w io.Writer, prefix string, r io.Reader, suffix string) error {
	const block = 48 << 10 // a multiple of 3: no padding inside the stream
	in := make([]byte, block)
	out := make([]byte, len(prefix), len(prefix)+base64.StdEncoding.EncodedLen(block)+len(suffix))
	copy(out, prefix)
	for {
		n, err := io.ReadFull(r, in)
		out = base64.StdEncoding.AppendEncode(out, in[:n])
		last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !last {
			return fmt.Errorf("read upload: %w", err)
		}
		if last {
			out = append(out, suffix...)
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
		if last {
			return nil
		}
		out = out[:0]
	}
}

// fileCall sends r and decodes the file document of a 2xx or 402 answer.
func (c *Client) fileCall(ctx context.Context, r request) (*File, error) {
	var doc api.UploadDocument // a file document, with its payment when an upload was paid at once
	if _, err := c.call(ctx, r, &doc, http.StatusPaymentRequired); err != nil {
		return nil, err
	}
	if doc.Data.ID == "" {
		return nil, fmt.Errorf("%s %s: %w: file resource without id", r.method, r.path, ErrBadResponse)
	}
	f := &File{ID: doc.Data.ID, File: doc.Data.Attributes}
	for _, p := range doc.Included {
		if p.Type == api.TypePayment {
			f.Payment = &Payment{ID: p.ID, Payment: p.Attributes}
		}
	}
	return f, nil
}

// accountQuery adds the account options to an upload's query.
func (o UploadOptions) accountQuery(q url.Values) {
	if o.Private {
		q.Set("private", "true")
	}
	if o.PayFromBalance {
		q.Set("pay", "balance")
	}
}

// File returns the file resource (GET /files/{id}/info).
func (c *Client) File(ctx context.Context, id string) (*File, error) {
	return c.fileCall(ctx, request{method: http.MethodGet, path: "/files/" + escape(id) + "/info"})
}

// Files returns one page of at most size files after the cursor after ("":
// the first page) and the cursor of the next page, "" at the end. size 0
// is the server's default.
func (c *Client) Files(ctx context.Context, after string, size int) ([]File, string, error) {
	return c.FilesInState(ctx, "", after, size)
}

// FilesInState is Files of the files in state only ("" for all).
func (c *Client) FilesInState(ctx context.Context, state, after string, size int) ([]File, string, error) {
	q := url.Values{}
	if state != "" {
		q.Set("filter[state]", state)
	}
	if size > 0 {
		q.Set("page[size]", strconv.Itoa(size))
	}
	if after != "" {
		q.Set("page[after]", after)
	}
	var doc api.ListDocument[api.File]
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/files", query: q}, &doc); err != nil {
		return nil, "", err
	}
	files := make([]File, 0, len(doc.Data))
	for _, r := range doc.Data {
		files = append(files, File{ID: r.ID, File: r.Attributes})
	}
	next := ""
	if doc.Links.Next != "" {
		u, err := url.Parse(doc.Links.Next)
		if err != nil {
			return nil, "", fmt.Errorf("GET /files: %w: next link %q: %w", ErrBadResponse, doc.Links.Next, err)
		}
		next = u.Query().Get("page[after]")
		if next == "" {
			return nil, "", fmt.Errorf("GET /files: %w: next link %q has no page[after]", ErrBadResponse, doc.Links.Next)
		}
	}
	return files, next, nil
}

// Download returns the file's bytes (the caller closes the body) and their
// length (-1 when the server did not say). off and n select a range: n = -1
// reads to the end; off = 0, n = -1 is the whole file, without a Range
// header. An unpaid file is an *Error with status 402 (paymentRequired).
func (c *Client) Download(ctx context.Context, id string, off, n int64) (io.ReadCloser, int64, error) {
	if off < 0 || n < -1 {
		return nil, 0, fmt.Errorf("download %s: %w: range %d+%d", id, ErrInvalidOption, off, n)
	}
	if n == 0 {
		return io.NopCloser(http.NoBody), 0, nil
	}
	h := http.Header{}
	ranged := off > 0 || n > 0
	if ranged {
		if n > 0 {
			h.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
		} else {
			h.Set("Range", fmt.Sprintf("bytes=%d-", off))
		}
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/files/" + escape(id), header: h})
	if err != nil {
		return nil, 0, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && ranged:
		return resp.Body, resp.ContentLength, nil
	case resp.StatusCode == http.StatusOK && !ranged:
		return resp.Body, resp.ContentLength, nil
	case resp.StatusCode == http.StatusOK:
		// The server ignored the range: cut it out of the whole body.
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("download %s: skip to %d: %w", id, off, err)
		}
		length := int64(-1)
		if resp.ContentLength >= 0 {
			length = max(resp.ContentLength-off, 0)
		}
		if n > 0 {
			if length < 0 || n < length {
				length = n
			}
			return limitedBody{io.LimitReader(resp.Body, n), resp.Body}, length, nil
		}
		return resp.Body, length, nil
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		resp.Body.Close()
		return nil, 0, fmt.Errorf("download %s: %w: status %d", id, ErrBadResponse, resp.StatusCode)
	}
	return nil, 0, readError(resp)
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// Extend asks for a longer term: duration is the new total term in seconds.
// The server's 402 is the normal answer and is returned as the File with
// the extension's quote (state extension_quoted, its price).
func (c *Client) Extend(ctx context.Context, id string, duration int64) (*File, error) {
	return c.patch(ctx, id, api.FilePatch{Duration: &duration})
}

// Update merges additional into the file's additional attributes; a key
// set to JSON null is removed.
func (c *Client) Update(ctx context.Context, id string, additional map[string]json.RawMessage) (*File, error) {
	if additional == nil {
		additional = map[string]json.RawMessage{}
	}
	return c.patch(ctx, id, api.FilePatch{Additional: additional})
}

func (c *Client) patch(ctx context.Context, id string, p api.FilePatch) (*File, error) {
	body, n, err := jsonBody(api.Document[api.FilePatch]{Data: api.Resource[api.FilePatch]{
		Type: api.TypeFile, ID: id, Attributes: p}})
	if err != nil {
		return nil, err
	}
	return c.fileCall(ctx, request{method: http.MethodPatch, path: "/files/" + escape(id),
		body: body, length: n, ctype: api.MediaType})
}

// WaitState polls the file until its state is one of states (or ctx ends),
// calling progress (may be nil) after each poll. Answers that may succeed
// later (5xx, 429) are waited out; a file that reaches a final state
// (expired, cancelled) not in states ends the wait with [ErrFinalState].
func (c *Client) WaitState(ctx context.Context, id string, progress func(*File), states ...string) (*File, error) {
	if len(states) == 0 {
		return nil, fmt.Errorf("wait for %s: %w: no states", id, ErrInvalidOption)
	}
	interval := c.poll
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %s to be %v: %w", id, states, ctx.Err())
		case <-t.C:
		}
		wait := interval
		f, err := c.File(ctx, id)
		var apiErr *Error
		switch {
		case err == nil:
			if progress != nil {
				progress(f)
			}
			if slices.Contains(states, f.State) {
				return f, nil
			}
			if f.State == api.StateExpired || f.State == api.StateCancelled {
				return f, fmt.Errorf("wait for %s: %w: %s", id, ErrFinalState, f.State)
			}
		case errors.As(err, &apiErr) && apiErr.Temporary():
			wait = max(wait, apiErr.RetryAfter)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("wait for %s to be %v: %w", id, states, ctx.Err())
		default:
			return nil, err
		}
		t.Reset(wait)
		interval = min(2*interval, 8*c.poll)
	}
}
