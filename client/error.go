package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ddsnet/dds/api"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 1 << 20

// Error is a non-2xx answer: the HTTP status and the JSON:API error objects.
type Error struct {
	Status     int
	Errors     []api.Error // at least one (synthesised from the status when the body had none)
	RetryAfter time.Duration
}

// Error formats the error objects as "code: detail (at pointer)", joined
// with "; " when there are several.
func (e *Error) Error() string {
	if len(e.Errors) == 0 {
		return "http status " + strconv.Itoa(e.Status)
	}
	d := api.ErrorDocument{Errors: e.Errors}
	return d.Error()
}

// Code is the first error object's code.
func (e *Error) Code() string {
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// Pointer is the first error object's source.pointer, or "".
func (e *Error) Pointer() string {
	if len(e.Errors) == 0 || e.Errors[0].Source == nil {
		return ""
	}
	return e.Errors[0].Source.Pointer
}

// Temporary reports whether the same request may succeed later unchanged
// (5xx and 429).
func (e *Error) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// IsCode reports whether err is an *Error whose first code is code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code() == code
}

// codeForStatus is the error code a status implies when the body names none.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestedRangeNotSatisfiable:
		return api.CodeInvalidRequest
	case http.StatusUnauthorized:
		return api.CodeUnauthorized
	case http.StatusPaymentRequired:
		return api.CodePaymentRequired
	case http.StatusForbidden:
		return api.CodeForbidden
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusMethodNotAllowed:
		return api.CodeMethodNotAllowed
	case http.StatusConflict:
		return api.CodeConflict
	case http.StatusGone:
		return api.CodeGone
	case http.StatusRequestEntityTooLarge:
		return api.CodePayloadTooLarge
	case http.StatusUnsupportedMediaType:
		return api.CodeUnsupportedMediaType
	case http.StatusTooManyRequests:
		return api.CodeRateLimited
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return api.CodeUnavailable
	}
	if status >= 500 {
		return api.CodeInternal
	}
	return api.CodeInvalidRequest
}

// readError reads a non-2xx answer into an *Error and closes the body.
func readError(resp *http.Response) *Error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return parseError(resp, body)
}

// parseError builds the *Error of a non-2xx answer whose body was read.
func parseError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var doc api.ErrorDocument
	if err := json.Unmarshal(body, &doc); err == nil {
		e.Errors = doc.Errors
	}
	if len(e.Errors) == 0 {
		code := codeForStatus(resp.StatusCode)
		detail := http.StatusText(resp.StatusCode)
		if t := strings.TrimSpace(string(body)); t != "" && len(t) <= 200 && !bytes.HasPrefix(body, []byte("{")) {
			detail = t
		} else if detail == "" {
			detail = "http status " + strconv.Itoa(resp.StatusCode)
		}
		e.Errors = []api.Error{{
			Status: strconv.Itoa(resp.StatusCode),
			Code:   code,
			Title:  api.Titles[code],
			Detail: detail,
		}}
	}
	return e
}

// retryAfter decodes a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
