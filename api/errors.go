package api

import (
	"fmt"
	"strings"
)

// Error codes (the `code` member of an error object), as spec/api.md lists them.
const (
	CodeInvalidRequest       = "invalidRequest"
	CodeRequired             = "required"
	CodeTooShort             = "tooShort"
	CodeTooLong              = "tooLong"
	CodeInvalidValue         = "invalidValue"
	CodeNotFound             = "notFound"
	CodeMethodNotAllowed     = "methodNotAllowed"
	CodeUnsupportedMediaType = "unsupportedMediaType"
	CodePayloadTooLarge      = "payloadTooLarge"
	CodePaymentRequired      = "paymentRequired"
	CodeQuoteExpired         = "quoteExpired"
	CodeAlreadyPaid          = "alreadyPaid"
	CodeAmountTooLow         = "amountTooLow"
	CodeConflict             = "conflict"
	CodeIdempotencyKeyReused = "idempotencyKeyReused"
	CodeGone                 = "gone"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeRateLimited          = "rateLimited"
	CodeUnavailable          = "unavailable"
	CodeInsufficientStorage  = "insufficientStorage"
	CodeInternal             = "internal"
)

// Error is one JSON:API error object.
type Error struct {
	Status string  `json:"status"`
	Code   string  `json:"code"`
	Title  string  `json:"title"`
	Detail string  `json:"detail,omitempty"`
	Source *Source `json:"source,omitempty"`
}

// Source names the part of the request at fault.
type Source struct {
	Pointer   string `json:"pointer,omitempty"`   // JSON pointer into the request document
	Parameter string `json:"parameter,omitempty"` // query parameter
	Header    string `json:"header,omitempty"`    // request header
}

// ErrorDocument is the body of every 4xx and 5xx response.
type ErrorDocument struct {
	Errors []Error `json:"errors"`
}

// Error makes a document usable as a Go error (the client returns it).
func (d *ErrorDocument) Error() string {
	parts := make([]string, 0, len(d.Errors))
	for _, e := range d.Errors {
		s := e.Code
		if e.Detail != "" {
			s += ": " + e.Detail
		} else if e.Title != "" {
			s += ": " + e.Title
		}
		if e.Source != nil && e.Source.Pointer != "" {
			s += fmt.Sprintf(" (at %s)", e.Source.Pointer)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// Titles are the fixed, human-readable titles for each code.
var Titles = map[string]string{
	CodeInvalidRequest:       "Request is invalid",
	CodeRequired:             "Value is required",
	CodeTooShort:             "Value is too short",
	CodeTooLong:              "Value is too long",
	CodeInvalidValue:         "Value is invalid",
	CodeNotFound:             "Not found",
	CodeMethodNotAllowed:     "Method not allowed",
	CodeUnsupportedMediaType: "Unsupported media type",
	CodePayloadTooLarge:      "Payload too large",
	CodePaymentRequired:      "Payment required",
	CodeQuoteExpired:         "Quote expired",
	CodeAlreadyPaid:          "Already paid",
	CodeAmountTooLow:         "Amount too low",
	CodeConflict:             "Conflict",
	CodeIdempotencyKeyReused: "Idempotency key reused",
	CodeGone:                 "Gone",
	CodeUnauthorized:         "Unauthorized",
	CodeForbidden:            "Forbidden",
	CodeRateLimited:          "Too many requests",
	CodeUnavailable:          "Service unavailable",
	CodeInsufficientStorage:  "Insufficient storage",
	CodeInternal:             "Internal error",
}
