package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"syscall"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
)

// docOverhead is what a JSON or multipart upload may carry beyond the
// file's (encoded) bytes.
const docOverhead = 1 << 20

// uploadForm is one of the three forms of POST /files.
type uploadForm interface {
	// head reads the request up to the file's bytes. False: there are no
	// bytes (problems says why), or the request could not be read.
	head() bool
	// content is the file's bytes; at their end the rest of the request is
	// read, and a request found invalid makes the last Read fail.
	content() io.Reader
	attrs() uploadAttrs
	// problems are the form's own problems; when fatal, only a syntax error.
	problems() []api.Error
	fatal() bool
	// done reports whether the request has been read to its end.
	done() bool
	// source names a field of the form in an error.
	source(field string) *api.Source
	// jsonValues says the attributes are JSON values, not text.
	jsonValues() bool
	// complete says every attribute is known: nothing after the bytes can
	// change the upload.
	complete() bool
}

// handleUpload serves POST /files.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	by, ok := s.caller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var qerrs []api.Error
	payBalance := false
	if q.Has("pay") {
		if q.Get("pay") != "balance" {
			qerrs = append(qerrs, fieldError(api.CodeInvalidValue, `pay must be "balance"`, parameter("pay")))
		}
		payBalance = true
	}
	private := false
	if q.Has("private") {
		switch q.Get("private") {
		case "true":
			private = true
		case "false":
		default:
			qerrs = append(qerrs, fieldError(api.CodeInvalidValue, `private must be "true" or "false"`, parameter("private")))
		}
	}
	if len(qerrs) > 0 {
		s.fail(w, r, refuse(qerrs))
		return
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ""
	}
	var limit int64
	switch {
	case jsonMediaType(ct):
		limit = base64Len(s.cfg.MaxUpload) + docOverhead
	case mt == "application/octet-stream":
		limit = s.cfg.MaxUpload
	case mt == "multipart/form-data":
		limit = s.cfg.MaxUpload + docOverhead
	default:
		s.fail(w, r, unsupportedMediaType(ct, api.MediaType+", application/json, application/octet-stream or multipart/form-data"))
		return
	}
	if r.ContentLength > limit {
		s.fail(w, r, s.uploadTooLarge(errTooLarge))
		return
	}
	release, status, e := s.uploads.take(clientIP(r))
	if release == nil {
		w.Header().Set("Retry-After", "1")
		s.writeErrors(w, r, status, []api.Error{e})
		return
	}
	defer release()
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	s.idempotent(w, r, "files", func(w http.ResponseWriter, r *http.Request) {
		body := &bodyErr{r: r.Body}
		var f uploadForm
		switch {
		case jsonMediaType(ct):
			f = &jsonForm{doc: newUploadDoc(body)}
		case mt == "application/octet-stream":
			f = newOctetForm(r, body)
		default:
			mr, err := r.MultipartReader()
			if err != nil {
				s.fail(w, r, refuse([]api.Error{fieldError(api.CodeInvalidRequest,
					"multipart/form-data needs a boundary", header("Content-Type"))}))
				return
			}
			f = &multipartForm{mr: mr}
		}
		file, err := s.ingest(r.Context(), f, body, minSize(r.ContentLength, mt, ct), by, private)
		if err != nil {
			s.fail(w, r, s.uploadTooLarge(err))
			return
		}
		if a := f.attrs(); a.paySet && string(a.pay) == "true" {
			payBalance = true
		}
		if !payBalance {
			s.writeFile(w, r, http.StatusPaymentRequired, file)
			return
		}
		// Paid from the balance at once: 202 with the file (storing) and
		// its payment; a balance below the price leaves the quote open (402).
		p, paid, err := s.svc.PayFromBalance(r.Context(), file.ID, by)
		switch {
		case errors.Is(err, node.ErrPaymentRequired):
			s.writeFile(w, r, http.StatusPaymentRequired, file)
		case err != nil:
			s.fail(w, r, err)
		default:
			w.Header().Set("Location", "/files/"+paid.ID)
			s.writeJSON(w, r, http.StatusAccepted, api.MediaType, api.UploadDocument{
				Data: fileResource(paid), Included: []api.Resource[api.Payment]{paymentResource(p)}})
		}
	})
}

// base64Len is the length of n bytes in padded base64.
func base64Len(n int64) int64 { return (n + 2) / 3 * 4 }

// ingest reads an upload in any form and hands it to the service: straight
// through when every attribute is known before the bytes, else through a
// spool until the request has been read and validated.
func (s *Server) ingest(ctx context.Context, f uploadForm, body *bodyErr, min int64, by node.Caller, private bool) (node.File, error) {
	found := f.head()
	if body.err != nil {
		return node.File{}, body.failure()
	}
	if f.fatal() {
		return node.File{}, refuse(f.problems())
	}
	if !found {
		_, errs := s.checkAttrs(ctx, f)
		return node.File{}, refuse(append(f.problems(), errs...))
	}
	capped := &capReader{r: f.content(), max: s.cfg.MaxUpload}
	u, attrErrs := s.checkAttrs(ctx, f)
	if !f.complete() {
		// A missing attribute may still come; a wrong one is wrong for good.
		attrErrs = slices.DeleteFunc(attrErrs, func(e api.Error) bool { return e.Code == api.CodeRequired })
	}
	if _, raw := f.(*octetForm); raw && len(attrErrs) > 0 {
		return node.File{}, refuse(attrErrs) // the bytes cannot add a problem
	}
	if f.complete() && len(attrErrs) == 0 && len(f.problems()) == 0 {
		u.Body = capped
		u.MinSize = min
		u.Owner, u.Private = by, u.Private || private
		file, err := s.svc.Upload(ctx, u)
		switch {
		case body.err != nil:
			return node.File{}, body.failure()
		case capped.over:
			return node.File{}, errTooLarge
		case len(f.problems()) > 0:
			return node.File{}, refuse(f.problems())
		case err != nil:
			return node.File{}, err
		case !f.done():
			return node.File{}, errBodyNotConsumed
		case f.attrs().privateLate && string(f.attrs().private) == "true" && !u.Private:
			// The quote was made before private was read: it stays
			// unpaid and lapses.
			return node.File{}, refuse([]api.Error{fieldError(api.CodeInvalidValue,
				"private must come before data in the document (or be given as ?private=true)", f.source("private"))})
		}
		return file, nil
	}
	// Spool the bytes (or, when the request is already known to be
	// invalid, only read them) until the whole request has been read.
	var sp *spool
	var dst io.Writer = io.Discard
	if len(f.problems()) == 0 && len(attrErrs) == 0 {
		sp = &spool{dir: s.cfg.SpoolDir, mem: s.cfg.SpoolMemory}
		defer sp.Close()
		dst = sp
	}
	_, err := io.Copy(dst, capped)
	switch {
	case body.err != nil:
		return node.File{}, body.failure()
	case capped.over:
		return node.File{}, errTooLarge
	case f.fatal():
		return node.File{}, refuse(f.problems())
	case err != nil && !errors.Is(err, errInvalidDocument):
		return node.File{}, fmt.Errorf("spool upload: %w", spoolError(err))
	}
	u, errs := s.checkAttrs(ctx, f)
	if errs = append(f.problems(), errs...); len(errs) > 0 {
		return node.File{}, refuse(errs)
	}
	if sp == nil {
		return node.File{}, errInvalidDocument
	}
	rd, err := sp.reader()
	if err != nil {
		return node.File{}, fmt.Errorf("spool upload: %w", err)
	}
	u.Body = rd
	u.MinSize = min
	u.Owner, u.Private = by, u.Private || private
	return s.svc.Upload(ctx, u)
}

// minSize is the least size of the file a request of length n (-1:
// unknown) can carry in the form of media type mt: all of an octet
// stream, the body less a document's overhead otherwise (decoded, for
// base64 in JSON).
func minSize(n int64, mt, ct string) int64 {
	switch {
	case n <= 0:
		return 0
	case mt == "application/octet-stream":
		return n
	case jsonMediaType(ct):
		return max(0, n-docOverhead) / 4 * 3
	default:
		return max(0, n-docOverhead)
	}
}

// spoolError marks a spool write that found the disk full as the node's
// lack of room (507), not a fault of the node (500).
func spoolError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", node.ErrInsufficientStorage, err)
	}
	return err
}

// checkAttrs validates an upload's attributes, all problems at once.
func (s *Server) checkAttrs(ctx context.Context, f uploadForm) (node.Upload, []api.Error) {
	a := f.attrs()
	var u node.Upload
	var errs []api.Error
	switch src := f.source("name"); {
	case a.nameBad:
	case !a.nameSet:
		errs = append(errs, fieldError(api.CodeRequired, "name is required", src))
	case a.nameLong:
		errs = append(errs, fieldError(api.CodeTooLong, fmt.Sprintf("name must be at most %d bytes", maxNameLen), src))
	default:
		if e := checkName(a.name, src); e != nil {
			errs = append(errs, *e)
		}
		u.Name = a.name
	}
	if a.durationSet {
		d, e := checkDuration(a.duration, f.jsonValues(), s.svc.MaxTerm(ctx), f.source("duration"))
		if e != nil {
			errs = append(errs, *e)
		}
		u.Duration = d
	}
	if a.additionalSet {
		if a.additionalBig {
			errs = append(errs, fieldError(api.CodeTooLong,
				fmt.Sprintf("additional must be at most %d bytes encoded", maxAdditionalLen), f.source("additional")))
		} else if m, e := checkAdditional(a.additional, f.source("additional")); e != nil {
			errs = append(errs, *e)
		} else {
			u.Additional = m
		}
	}
	for _, b := range []struct {
		raw  []byte
		set  bool
		name string
		out  *bool
	}{{a.private, a.privateSet, "private", &u.Private}, {a.pay, a.paySet, "pay_from_balance", nil}} {
		if !b.set {
			continue
		}
		switch string(b.raw) {
		case "true":
			if b.out != nil {
				*b.out = true
			}
		case "false", "null":
		default:
			errs = append(errs, fieldError(api.CodeInvalidValue, b.name+" must be true or false", f.source(b.name)))
		}
	}
	return u, errs
}

// bodyErr remembers the first failure reading the request body.
type bodyErr struct {
	r   io.Reader
	err error
}

func (b *bodyErr) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// failure is the error to answer for a body that failed: 413 when over
// the limit, else 400.
func (b *bodyErr) failure() error {
	var mbe *http.MaxBytesError
	if errors.As(b.err, &mbe) {
		return errTooLarge
	}
	return refuse([]api.Error{malformed("the request body could not be read: " + b.err.Error())})
}

// capReader fails with errTooLarge past max bytes.
type capReader struct {
	r    io.Reader
	max  int64
	n    int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, errTooLarge
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.over = true
		return 0, errTooLarge
	}
	return n, err
}

// spool holds an upload's bytes: up to mem in memory, the rest in a
// temporary file.
type spool struct {
	dir  string
	mem  int
	buf  bytes.Buffer
	file *os.File
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && s.buf.Len()+len(p) <= s.mem {
		return s.buf.Write(p)
	}
	if s.file == nil {
		f, err := os.CreateTemp(s.dir, "dds-upload-*")
		if err != nil {
			return 0, fmt.Errorf("create spool file: %w", err)
		}
		s.file = f
	}
	return s.file.Write(p)
}

// reader reads the spooled bytes from the start.
func (s *spool) reader() (io.Reader, error) {
	if s.file == nil {
		return bytes.NewReader(s.buf.Bytes()), nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.MultiReader(bytes.NewReader(s.buf.Bytes()), s.file), nil
}

// Close removes the spool file.
func (s *spool) Close() error {
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	return errors.Join(err, os.Remove(s.file.Name()))
}

// jsonForm is the JSON:API form of an upload.
type jsonForm struct{ doc *uploadDoc }

func (f *jsonForm) head() bool         { return f.doc.head() }
func (f *jsonForm) content() io.Reader { return f.doc.content() }
func (f *jsonForm) attrs() uploadAttrs { return f.doc.attrs }
func (f *jsonForm) fatal() bool        { var se *syntaxError; return errors.As(f.doc.syntax, &se) }
func (f *jsonForm) done() bool         { return f.doc.done }
func (f *jsonForm) jsonValues() bool   { return true }
func (f *jsonForm) complete() bool     { return f.doc.attrs.complete() }
func (f *jsonForm) problems() []api.Error {
	if !f.doc.done && f.doc.syntax == nil && f.doc.inData {
		return f.doc.errs // mid-document: the checks of the end come later
	}
	return f.doc.problems()
}
func (f *jsonForm) source(field string) *api.Source { return pointer("/data/attributes/" + field) }

// octetForm is the raw form: the body is the file, the attributes are in
// the query and the X-Additional header.
type octetForm struct {
	body io.Reader
	a    uploadAttrs
	eof  bool
}

func newOctetForm(r *http.Request, body io.Reader) *octetForm {
	f := &octetForm{body: body}
	q := r.URL.Query()
	if q.Has("name") {
		f.a.name, f.a.nameSet = q.Get("name"), true
	}
	if q.Has("duration") {
		f.a.duration, f.a.durationSet = q.Get("duration"), true
	}
	if v := r.Header.Values("X-Additional"); len(v) > 0 {
		f.a.additional, f.a.additionalSet = []byte(v[0]), true
		f.a.additionalBig = len(v[0]) > maxRawValue
	}
	return f
}

func (f *octetForm) head() bool { return true }
func (f *octetForm) content() io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		n, err := f.body.Read(p)
		if err == io.EOF {
			f.eof = true
		}
		return n, err
	})
}
func (f *octetForm) attrs() uploadAttrs    { return f.a }
func (f *octetForm) complete() bool        { return true } // nothing follows the bytes
func (f *octetForm) problems() []api.Error { return nil }
func (f *octetForm) fatal() bool           { return false }
func (f *octetForm) done() bool            { return f.eof }
func (f *octetForm) jsonValues() bool      { return false }
func (f *octetForm) source(field string) *api.Source {
	if field == "additional" {
		return header("X-Additional")
	}
	return parameter(field)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// multipartForm is multipart/form-data with a "file" part and optional
// "name", "duration" and "additional" parts, read part by part.
type multipartForm struct {
	mr       *multipart.Reader
	a        uploadAttrs
	filename string
	file     bool
	cur      *multipart.Part
	errs     []api.Error
	syntax   string
	eof      bool
}

// parts reads parts until the file part (true) or the end.
func (f *multipartForm) parts() bool {
	for {
		p, err := f.mr.NextPart()
		if err == io.EOF {
			f.eof = true
			return false
		}
		if err != nil {
			f.syntax = "malformed multipart body: " + err.Error()
			return false
		}
		name := p.FormName()
		field := func(max int) ([]byte, bool, bool) {
			b, err := io.ReadAll(io.LimitReader(p, int64(max)+1))
			if err != nil {
				f.syntax = "malformed multipart body: " + err.Error()
				return nil, false, false
			}
			if len(b) > max {
				_, err = io.Copy(io.Discard, p)
				if err != nil {
					f.syntax = "malformed multipart body: " + err.Error()
					return nil, false, false
				}
				return b[:max], true, true
			}
			return b, false, true
		}
		dup := func() {
			f.errs = append(f.errs, fieldError(api.CodeInvalidRequest, "part appears more than once", parameter(name)))
		}
		switch name {
		case "file":
			if f.file {
				dup()
				break
			}
			f.file = true
			f.filename = p.FileName()
			f.cur = p
			return true
		case "name", "duration", "additional":
			max := maxNameLen + 4
			switch name {
			case "duration":
				max = maxNumberLen
			case "additional":
				max = maxRawValue
			}
			b, over, ok := field(max)
			if !ok {
				return false
			}
			switch {
			case name == "name" && f.a.nameSet, name == "duration" && f.a.durationSet, name == "additional" && f.a.additionalSet:
				dup()
			case name == "name":
				f.a.name, f.a.nameSet, f.a.nameLong = string(b), true, over
			case name == "duration":
				f.a.duration, f.a.durationSet = string(b), true
				if over {
					f.a.duration = "too long"
				}
			default:
				f.a.additional, f.a.additionalSet, f.a.additionalBig = b, true, over
			}
			continue
		}
		if _, err := io.Copy(io.Discard, p); err != nil {
			f.syntax = "malformed multipart body: " + err.Error()
			return false
		}
	}
}

func (f *multipartForm) head() bool { return f.parts() }

func (f *multipartForm) content() io.Reader {
	ended := false
	return readerFunc(func(p []byte) (int, error) {
		if ended {
			return 0, io.EOF
		}
		n, err := f.cur.Read(p)
		if err == io.EOF {
			ended = true
			if f.parts() {
				f.errs = append(f.errs, fieldError(api.CodeInvalidRequest, "part appears more than once", parameter("file")))
			}
			if f.syntax != "" || len(f.errs) > 0 {
				return n, errInvalidDocument
			}
		} else if err != nil {
			f.syntax = "malformed multipart body: " + err.Error()
			return n, errInvalidDocument
		}
		return n, err
	})
}

func (f *multipartForm) attrs() uploadAttrs {
	a := f.a
	if !a.nameSet && f.filename != "" {
		a.name, a.nameSet = f.filename, true
	}
	return a
}

func (f *multipartForm) problems() []api.Error {
	if f.syntax != "" {
		return []api.Error{malformed(f.syntax)}
	}
	if !f.file && f.eof {
		return append(append([]api.Error(nil), f.errs...), fieldError(api.CodeRequired, "a file part is required", parameter("file")))
	}
	return f.errs
}
func (f *multipartForm) fatal() bool      { return f.syntax != "" }
func (f *multipartForm) done() bool       { return f.eof }
func (f *multipartForm) jsonValues() bool { return false }
func (f *multipartForm) complete() bool   { return f.a.complete() } // explicit parts only
func (f *multipartForm) source(field string) *api.Source {
	return parameter(field)
}
