package billing

import "fmt"

// Error is a refusal by the ledger's rules. Code is one of the external API's
// error codes (spec/api.md), so node/httpapi can map it to a status without
// parsing messages. Use errors.Is with the sentinels below: two *Error values
// match when their codes are equal.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns the message (or the code when there is no message).
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	if e.Message == "" {
		return e.Code
	}
	return e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrAlreadyPaid) holds for every refusal of that kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || e == nil || t == nil {
		return false
	}
	return e.Code == t.Code
}

// The refusals of the ledger, one per API error code it can produce.
var (
	ErrNotFound     = &Error{Code: "notFound", Message: "not found"}
	ErrAlreadyPaid  = &Error{Code: "alreadyPaid", Message: "already paid"}
	ErrQuoteExpired = &Error{Code: "quoteExpired", Message: "quote expired"}
	ErrAmountTooLow = &Error{Code: "amountTooLow", Message: "amount too low"}
	ErrConflict     = &Error{Code: "conflict", Message: "conflict"}
	ErrInvalid      = &Error{Code: "invalidValue", Message: "invalid value"}
	ErrGone         = &Error{Code: "gone", Message: "gone"}
	ErrForbidden    = &Error{Code: "forbidden", Message: "forbidden"}
	// ErrPaymentRequired: an account's balance is below a price.
	ErrPaymentRequired = &Error{Code: "paymentRequired", Message: "payment required"}
)

// codeInternal marks a bug caught by Apply's recovery; it is never a rule's
// refusal, and the tests check that it never appears.
const codeInternal = "internal"

// refusal returns a new *Error with kind's code and a formatted message.
func refusal(kind *Error, format string, args ...any) *Error {
	return &Error{Code: kind.Code, Message: fmt.Sprintf(format, args...)}
}
