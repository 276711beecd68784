package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
)

// apiError is an S3 error: its code, HTTP status and message.
type apiError struct {
	Code    string
	Status  int
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(code string, status int, msg string) *apiError {
	return &apiError{Code: code, Status: status, Message: msg}
}

// The S3 errors the handler answers. Messages follow S3's where clients
// or people look at them.
var (
	errAccessDenied          = errorf("AccessDenied", http.StatusForbidden, "Access Denied")
	errExpired               = errorf("AccessDenied", http.StatusForbidden, "Request has expired")
	errSignatureMismatch     = errorf("SignatureDoesNotMatch", http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	errInvalidAccessKeyID    = errorf("InvalidAccessKeyId", http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records.")
	errTimeSkewed            = errorf("RequestTimeTooSkewed", http.StatusForbidden, "The difference between the request time and the server's time is too large.")
	errPaymentRequired       = errorf("PaymentRequired", http.StatusForbidden, "The account's balance is too low to pay for this storage.")
	errNoSuchKey             = errorf("NoSuchKey", http.StatusNotFound, "The specified key does not exist.")
	errNoSuchBucket          = errorf("NoSuchBucket", http.StatusNotFound, "The specified bucket does not exist")
	errNoSuchUpload          = errorf("NoSuchUpload", http.StatusNotFound, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
	errBucketNotEmpty        = errorf("BucketNotEmpty", http.StatusConflict, "The bucket you tried to delete is not empty")
	errBucketAlreadyExists   = errorf("BucketAlreadyExists", http.StatusConflict, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
	errBucketOwnedByYou      = errorf("BucketAlreadyOwnedByYou", http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it.")
	errInvalidRange          = errorf("InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable")
	errEntityTooSmall        = errorf("EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size.")
	errEntityTooLarge        = errorf("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size.")
	errInvalidPart           = errorf("InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
	errInvalidPartOrder      = errorf("InvalidPartOrder", http.StatusBadRequest, "The list of parts was not in ascending order. Parts must be ordered by part number.")
	errInvalidBucketName     = errorf("InvalidBucketName", http.StatusBadRequest, "The specified bucket is not valid.")
	errKeyTooLong            = errorf("KeyTooLongError", http.StatusBadRequest, "Your key is too long")
	errBadDigest             = errorf("BadDigest", http.StatusBadRequest, "The Content-MD5 or checksum you specified did not match what we received.")
	errInvalidDigest         = errorf("InvalidDigest", http.StatusBadRequest, "The Content-MD5 or checksum you specified is not valid.")
	errContentSHA256Mismatch = errorf("XAmzContentSHA256Mismatch", http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	errIncompleteBody        = errorf("IncompleteBody", http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	errMalformedXML          = errorf("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
	errInvalidArgument       = errorf("InvalidArgument", http.StatusBadRequest, "Invalid argument.")
	errInvalidRequest        = errorf("InvalidRequest", http.StatusBadRequest, "Invalid request.")
	errMetadataTooLarge      = errorf("MetadataTooLarge", http.StatusBadRequest, "Your metadata headers exceed the maximum allowed metadata size.")
	errMissingContentLength  = errorf("MissingContentLength", http.StatusLengthRequired, "You must provide the Content-Length HTTP header.")
	errPreconditionFailed    = errorf("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
	errNotModified           = errorf("NotModified", http.StatusNotModified, "Not Modified")
	errMethodNotAllowed      = errorf("MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource.")
	errNotImplemented        = errorf("NotImplemented", http.StatusNotImplemented, "A header or query you provided implies functionality that is not implemented.")
	errSlowDown              = errorf("SlowDown", http.StatusServiceUnavailable, "Please reduce your request rate.")
	errUnavailable           = errorf("ServiceUnavailable", http.StatusServiceUnavailable, "The storage is unavailable; please retry.")
	errInternal              = errorf("InternalError", http.StatusInternalServerError, "We encountered an internal error. Please try again.")
)

// withMessage is e with another message.
func (e *apiError) withMessage(msg string) *apiError {
	c := *e
	c.Message = msg
	return &c
}

// backendErrors maps the Backend's sentinels to S3 errors.
var backendErrors = []struct {
	err error
	api *apiError
}{
	{ErrInvalidAccessKeyID, errInvalidAccessKeyID},
	{ErrNoSuchBucket, errNoSuchBucket},
	{ErrNoSuchKey, errNoSuchKey},
	{ErrNoSuchUpload, errNoSuchUpload},
	{ErrBucketNotEmpty, errBucketNotEmpty},
	{ErrBucketAlreadyExists, errBucketAlreadyExists},
	{ErrBucketAlreadyOwnedByYou, errBucketOwnedByYou},
	{ErrAccessDenied, errAccessDenied},
	{ErrInvalidPart, errInvalidPart},
	{ErrEntityTooSmall, errEntityTooSmall},
	{ErrEntityTooLarge, errEntityTooLarge},
	{ErrPaymentRequired, errPaymentRequired},
	{ErrUnavailable, errUnavailable},
}

// toAPIError is the S3 error err stands for: one of ours, a Backend
// sentinel, or InternalError.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	for _, m := range backendErrors {
		if errors.Is(err, m.err) {
			return m.api
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errUnavailable
	}
	return errInternal
}

// errorBody is S3's XML error document.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
}
