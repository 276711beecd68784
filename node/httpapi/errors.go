package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
)

// Errors the handlers raise themselves; errorResponse maps them.
var (
	errTooLarge        = errors.New("request body too large")
	errInvalidDocument = errors.New("invalid upload document")
	errBodyNotConsumed = errors.New("upload body not read to its end")
)

// problemsError is a request refused with the given errors (field problems
// found by the handler's own validation).
type problemsError struct {
	status int
	errs   []api.Error
}

func (e *problemsError) Error() string {
	return (&api.ErrorDocument{Errors: e.errs}).Error()
}

// refuse makes the error for a list of problems. Field problems are 400; a
// list holding only 409s (a type or id mismatch) is 409.
func refuse(errs []api.Error) *problemsError {
	status := http.StatusConflict
	for _, e := range errs {
		if e.Status != "409" {
			status = http.StatusBadRequest
			break
		}
	}
	return &problemsError{status: status, errs: errs}
}

// newError builds one error object with the code's fixed title.
func newError(status int, code, detail string, src *api.Source) api.Error {
	return api.Error{Status: strconv.Itoa(status), Code: code, Title: api.Titles[code], Detail: detail, Source: src}
}

func notFound() api.Error {
	return newError(http.StatusNotFound, api.CodeNotFound, "no such resource", nil)
}

func pointer(p string) *api.Source   { return &api.Source{Pointer: p} }
func parameter(p string) *api.Source { return &api.Source{Parameter: p} }
func header(h string) *api.Source    { return &api.Source{Header: h} }

// fieldError is a 400 problem with a field.
func fieldError(code, detail string, src *api.Source) api.Error {
	return newError(http.StatusBadRequest, code, detail, src)
}

// errorResponse is the one place where errors become HTTP statuses and
// JSON:API error objects.
func errorResponse(err error) (int, []api.Error) {
	var pe *problemsError
	var fe *node.FieldError
	var mbe *http.MaxBytesError
	one := func(status int, code, detail string, src *api.Source) (int, []api.Error) {
		return status, []api.Error{newError(status, code, detail, src)}
	}
	switch {
	case errors.As(err, &pe):
		return pe.status, pe.errs
	case errors.As(err, &fe):
		code := fe.Code
		if _, ok := api.Titles[code]; !ok || code == "" {
			code = api.CodeInvalidValue
		}
		var src *api.Source
		if fe.Pointer != "" {
			src = pointer(fe.Pointer)
		}
		return one(http.StatusBadRequest, code, fe.Detail, src)
	case errors.Is(err, node.ErrTooLarge):
		return one(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, detail(err, node.ErrTooLarge), nil)
	case errors.Is(err, errTooLarge), errors.As(err, &mbe):
		d := "the request is larger than this node accepts"
		if err.Error() != errTooLarge.Error() {
			d = detail(err, errTooLarge)
		}
		return one(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, d, nil)
	case errors.Is(err, node.ErrInsufficientStorage):
		return one(http.StatusInsufficientStorage, api.CodeInsufficientStorage, "this node's disk has no room for the upload; retry at another node or later", nil)
	case errors.Is(err, node.ErrNotFound):
		return one(http.StatusNotFound, api.CodeNotFound, "no such resource", nil)
	case errors.Is(err, node.ErrPaymentRequired):
		return one(http.StatusPaymentRequired, api.CodePaymentRequired, "the file is not paid", nil)
	case errors.Is(err, node.ErrGone):
		return one(http.StatusGone, api.CodeGone, "the file's term ended and its data is gone", nil)
	case errors.Is(err, node.ErrAlreadyPaid):
		return one(http.StatusConflict, api.CodeAlreadyPaid, "the quote is already paid", nil)
	case errors.Is(err, node.ErrQuoteExpired):
		return one(http.StatusConflict, api.CodeQuoteExpired, "the quote has expired", nil)
	case errors.Is(err, node.ErrAmountTooLow):
		return one(http.StatusBadRequest, api.CodeAmountTooLow, "the amount is below the quoted price", pointer("/data/attributes/amount"))
	case errors.Is(err, node.ErrConflict):
		return one(http.StatusConflict, api.CodeConflict, conflictDetail(err), nil)
	case errors.Is(err, node.ErrUnavailable), errors.Is(err, node.ErrClosed):
		return one(http.StatusServiceUnavailable, api.CodeUnavailable, "the node cannot reach agreement now; retry later", nil)
	case errors.Is(err, node.ErrInvalid):
		return one(http.StatusBadRequest, api.CodeInvalidRequest, detail(err, node.ErrInvalid), nil)
	case errors.Is(err, node.ErrUnauthorized):
		return one(http.StatusUnauthorized, api.CodeUnauthorized, detail(err, node.ErrUnauthorized), header("Authorization"))
	case errors.Is(err, node.ErrForbidden):
		return one(http.StatusForbidden, api.CodeForbidden, detail(err, node.ErrForbidden), nil)
	case errors.Is(err, errInvalidDocument):
		return one(http.StatusBadRequest, api.CodeInvalidRequest, "the document is invalid", nil)
	default:
		return one(http.StatusInternalServerError, api.CodeInternal, "internal error", nil)
	}
}

// uploadTooLarge names the node's upload limit in err when the body was
// over it: a client cannot act on a bare 413.
func (s *Server) uploadTooLarge(err error) error {
	var mbe *http.MaxBytesError
	if err.Error() != errTooLarge.Error() && !errors.As(err, &mbe) {
		return err
	}
	return fmt.Errorf("%w: the upload is larger than this node's limit of %d bytes (%s)", errTooLarge, s.cfg.MaxUpload, iecSize(s.cfg.MaxUpload))
}

// iecSize writes n bytes with a binary unit (10 GiB), as dds prints sizes.
func iecSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, u := float64(n), -1
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return strconv.FormatFloat(math.Floor(v*10)/10, 'f', -1, 64) + " " + units[u]
}

// conflictDetail keeps the node's wording of a conflict (it says what
// conflicts), which carries no internals.
func conflictDetail(err error) string {
	if err == nil || errors.Is(err, node.ErrConflict) && err.Error() == node.ErrConflict.Error() {
		return "the request conflicts with the resource's state"
	}
	return detail(err, node.ErrConflict)
}

// detail is err's text without the leading name of its kind: the error
// object's code already says it, and a client that prints "code: detail"
// (dds does) would otherwise say "conflict: conflict: ...".
func detail(err, kind error) string {
	return strings.TrimPrefix(err.Error(), kind.Error()+": ")
}

// fail answers err, logging what the client cannot fix.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, errs := errorResponse(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dds"`)
	}
	switch {
	case status == http.StatusInternalServerError && errors.Is(r.Context().Err(), context.Canceled):
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "request abandoned by the client",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	case status >= 500:
		s.log.LogAttrs(r.Context(), levelFor(status), "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status), slog.Any("err", err))
	}
	s.writeErrors(w, r, status, errs)
}

func levelFor(status int) slog.Level {
	// No agreement now, a full disk: the node's state, not its fault.
	if status == http.StatusServiceUnavailable || status == http.StatusInsufficientStorage {
		return slog.LevelWarn
	}
	return slog.LevelError
}

// writeErrors writes a JSON:API error document.
func (s *Server) writeErrors(w http.ResponseWriter, r *http.Request, status int, errs []api.Error) {
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	s.writeJSON(w, r, status, api.MediaType, api.ErrorDocument{Errors: errs})
}

// writeJSON writes v as the whole body, with its length.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "encode response", slog.Any("err", err))
		status = http.StatusInternalServerError
		b, _ = json.Marshal(api.ErrorDocument{Errors: []api.Error{newError(status, api.CodeInternal, "internal error", nil)}})
		contentType = api.MediaType
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
