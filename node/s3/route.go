package s3

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// opFunc serves one S3 operation; an error becomes S3's error document.
type opFunc func(w *responseWriter, rq *request) error

// unsupported are sub-resources the gateway does not implement: a request
// naming one answers NotImplemented rather than being taken for the plain
// operation on the bucket or object.
var unsupported = []string{
	"accelerate", "acl", "analytics", "attributes", "cors", "encryption",
	"intelligent-tiering", "inventory", "legal-hold", "lifecycle", "logging",
	"metrics", "notification", "object-lock", "ownershipControls", "policy",
	"policyStatus", "publicAccessBlock", "replication", "requestPayment",
	"restore", "retention", "select", "tagging", "torrent", "versions", "website",
}

// route picks the operation a request asks for: its name (the metrics'
// label) and its function.
func (h *Handler) route(rq *request) (string, opFunc) {
	fail := func(op string, e *apiError) (string, opFunc) {
		return op, func(*responseWriter, *request) error { return e }
	}
	q := rq.query
	m := rq.Method
	if rq.bucket == "" {
		if m == http.MethodGet || m == http.MethodHead {
			return "ListBuckets", h.listBuckets
		}
		return fail("Unknown", errMethodNotAllowed)
	}
	for _, s := range unsupported {
		if q.Has(s) {
			return fail("NotImplemented", errNotImplemented.withMessage("?"+s+" is not implemented"))
		}
	}
	if q.Has("versioning") && m != http.MethodGet {
		return fail("NotImplemented", errNotImplemented.withMessage("versioning is not implemented"))
	}
	if v := q.Get("versionId"); v != "" && v != "null" {
		return fail("NotImplemented", errNotImplemented.withMessage("versioning is not implemented"))
	}
	if !validBucketName(rq.bucket) {
		return fail("InvalidBucketName", errInvalidBucketName)
	}
	if len(rq.key) > maxKeyLength {
		return fail("KeyTooLong", errKeyTooLong)
	}
	if rq.key == "" {
		switch m {
		case http.MethodGet:
			switch {
			case q.Has("location"):
				return "GetBucketLocation", h.getBucketLocation
			case q.Has("versioning"):
				return "GetBucketVersioning", h.getBucketVersioning
			case q.Has("uploads"):
				return "ListMultipartUploads", h.listUploads
			case q.Get("list-type") == "2":
				return "ListObjectsV2", h.listObjectsV2
			default:
				return "ListObjects", h.listObjectsV1
			}
		case http.MethodHead:
			return "HeadBucket", h.headBucket
		case http.MethodPut:
			return "CreateBucket", h.createBucket
		case http.MethodDelete:
			return "DeleteBucket", h.deleteBucket
		case http.MethodPost:
			if q.Has("delete") {
				return "DeleteObjects", h.deleteObjects
			}
			return fail("NotImplemented", errNotImplemented.withMessage("POST object uploads are not implemented"))
		}
		return fail("Unknown", errMethodNotAllowed)
	}
	upload := q.Has("uploadId")
	switch m {
	case http.MethodGet:
		if upload {
			return "ListParts", h.listParts
		}
		return "GetObject", h.getObject
	case http.MethodHead:
		return "HeadObject", h.headObject
	case http.MethodPut:
		copySource := rq.Header.Get("X-Amz-Copy-Source") != ""
		switch {
		case upload && copySource:
			return "UploadPartCopy", h.uploadPartCopy
		case upload:
			return "UploadPart", h.uploadPart
		case copySource:
			return "CopyObject", h.copyObject
		}
		return "PutObject", h.putObject
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return "CreateMultipartUpload", h.createUpload
		case upload:
			return "CompleteMultipartUpload", h.completeUpload
		}
		return fail("NotImplemented", errNotImplemented)
	case http.MethodDelete:
		if upload {
			return "AbortMultipartUpload", h.abortUpload
		}
		return "DeleteObject", h.deleteObject
	}
	return fail("Unknown", errMethodNotAllowed)
}

// validBucketName applies S3's rules for new buckets
// (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return false
	}
	if strings.Contains(b, "..") || strings.Contains(b, ".-") || strings.Contains(b, "-.") {
		return false
	}
	if ip := net.ParseIP(b); ip != nil {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return false
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return false
		}
	}
	return true
}

// encodeKey applies encoding-type=url to a key or prefix in a listing:
// form encoding, as S3 does, with '/' left readable.
func encodeKey(s string, encode bool) string {
	if !encode {
		return s
	}
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}
