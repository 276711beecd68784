package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Backend stores buckets and objects for accounts. Everything S3 (names,
// signatures, checksums, XML, part rules) is checked by the [Handler]
// before a call; the Backend only stores. Every method gets the request's
// context. Errors are the sentinels below, wrapped or not; anything else
// answers InternalError.
type Backend interface {
	// Secret is the secret of an access key id and the account it acts
	// for; ErrInvalidAccessKeyID when the key is unknown.
	Secret(ctx context.Context, accessKeyID string) (secret, account string, err error)

	// ListBuckets lists the account's buckets by name.
	ListBuckets(ctx context.Context, account string) ([]Bucket, error)
	// CreateBucket: ErrBucketAlreadyExists when another account owns the
	// name, ErrBucketAlreadyOwnedByYou when this one does.
	CreateBucket(ctx context.Context, account, bucket string) error
	// DeleteBucket: ErrNoSuchBucket, ErrBucketNotEmpty, ErrAccessDenied.
	DeleteBucket(ctx context.Context, account, bucket string) error
	// HeadBucket: nil when the bucket exists and the account may use it.
	HeadBucket(ctx context.Context, account, bucket string) error

	// ListObjects answers one page of the bucket's keys; see [ListQuery].
	ListObjects(ctx context.Context, account, bucket string, q ListQuery) (ListPage, error)
	// PutObject stores in.Body under key, replacing what was there. Read
	// in.Body until it returns io.EOF (io.Copy does): the handler's checks
	// (Content-MD5, x-amz-checksum-*, payload and chunk signatures) end
	// with that last Read, and any other error from Read means "abort,
	// store nothing". in.ETag() is the object's ETag once Body hit EOF.
	PutObject(ctx context.Context, account, bucket, key string, in ObjectInput) (Object, error)
	// HeadObject: ErrNoSuchKey when absent.
	HeadObject(ctx context.Context, account, bucket, key string) (Object, error)
	// GetObject reads length bytes at off (length -1: to the end); the
	// handler has resolved the range against the object's size.
	GetObject(ctx context.Context, account, bucket, key string, off, length int64) (Object, io.ReadCloser, error)
	// DeleteObject removes key; an absent key is not an error (S3).
	DeleteObject(ctx context.Context, account, bucket, key string) error
	// CopyObject copies an object; meta nil keeps the source's metadata.
	CopyObject(ctx context.Context, account, srcBucket, srcKey, dstBucket, dstKey string, meta *Meta) (Object, error)

	// CreateMultipartUpload starts an upload that will store meta with the object.
	CreateMultipartUpload(ctx context.Context, account, bucket, key string, meta Meta) (uploadID string, err error)
	// UploadPart stores one part (1..10000) with PutObject's rules for
	// in.Body; a part uploaded again replaces the earlier one. It returns
	// the part's ETag (in.ETag()).
	UploadPart(ctx context.Context, account, bucket, key, uploadID string, part int, in ObjectInput) (etag string, err error)
	// CompleteMultipartUpload assembles exactly parts, in that order, into
	// the object and stores etag as its ETag. The handler has checked the
	// order, the ETags and the sizes against ListParts; the backend still
	// answers ErrInvalidPart when a part is gone or its ETag changed since.
	// ErrNoSuchUpload when the upload is unknown.
	CompleteMultipartUpload(ctx context.Context, account, bucket, key, uploadID string, parts []CompletedPart, etag string) (Object, error)
	// AbortMultipartUpload drops the upload and its parts; ErrNoSuchUpload.
	AbortMultipartUpload(ctx context.Context, account, bucket, key, uploadID string) error
	// ListParts lists at most max parts numbered above after, ascending.
	ListParts(ctx context.Context, account, bucket, key, uploadID string, after, max int) (PartsPage, error)
	// ListMultipartUploads lists uploads in progress in (key, upload id) order.
	ListMultipartUploads(ctx context.Context, account, bucket string, q UploadsQuery) (UploadsPage, error)
}

// Errors a [Backend] returns; the handler maps each to its S3 code and
// status in one place (errors.go).
var (
	ErrInvalidAccessKeyID      = errors.New("s3: unknown access key id")
	ErrNoSuchBucket            = errors.New("s3: no such bucket")
	ErrNoSuchKey               = errors.New("s3: no such key")
	ErrNoSuchUpload            = errors.New("s3: no such upload")
	ErrBucketNotEmpty          = errors.New("s3: bucket not empty")
	ErrBucketAlreadyExists     = errors.New("s3: bucket name taken by another account")
	ErrBucketAlreadyOwnedByYou = errors.New("s3: bucket already owned by you")
	ErrAccessDenied            = errors.New("s3: access denied")
	ErrInvalidPart             = errors.New("s3: invalid part")
	ErrEntityTooSmall          = errors.New("s3: part too small")
	ErrEntityTooLarge          = errors.New("s3: object too large")
	ErrPaymentRequired         = errors.New("s3: balance too low")
	ErrUnavailable             = errors.New("s3: storage unavailable")
)

// Bucket is one bucket of an account.
type Bucket struct {
	Name    string
	Created time.Time
}

// Meta is what an object carries besides its bytes and is given back on
// GET and HEAD.
type Meta struct {
	ContentType        string
	ContentDisposition string
	ContentEncoding    string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	// User is the x-amz-meta-* metadata: keys lower-case, without the prefix.
	User map[string]string
}

// Object describes a stored object.
type Object struct {
	Key          string
	Size         int64
	ETag         string // hex, without quotes; "-N" suffix for multipart objects
	LastModified time.Time
	Meta
}

// ObjectInput is the body of a PutObject or UploadPart.
type ObjectInput struct {
	// Body yields exactly Size bytes, then io.EOF once every check passed,
	// or an error instead of io.EOF when one failed.
	Body io.Reader
	Size int64
	Meta Meta
	etag func() string
}

// ETag is the hex MD5 of the body once Body returned io.EOF; "" before.
func (in ObjectInput) ETag() string {
	if in.etag == nil {
		return ""
	}
	return in.etag()
}

// NewObjectInput makes an ObjectInput whose ETag is the MD5 of r's bytes:
// for a Backend's own tests.
func NewObjectInput(r io.Reader, size int64, meta Meta) ObjectInput {
	h := md5.New()
	done := false
	tr := &eofReader{r: io.TeeReader(r, h), eof: func() { done = true }}
	return ObjectInput{Body: tr, Size: size, Meta: meta, etag: func() string {
		if !done {
			return ""
		}
		return hex.EncodeToString(h.Sum(nil))
	}}
}

type eofReader struct {
	r   io.Reader
	eof func()
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.eof()
	}
	return n, err
}

// ListQuery asks for one page of keys: those starting with Prefix, in byte
// order, after After, at most Max entries (objects plus common prefixes).
//
// With a Delimiter, a key that contains it after Prefix is folded into
// one common prefix (the key up to and including the delimiter), which
// counts once towards Max. A backend should skip past a folded prefix with
// a seek (to the first key above every key with that prefix), never by
// scanning its keys: a page of 1,000 from a bucket of 100,000 keys must
// stay fast. When After is itself a common prefix of this query, every
// key under it was already answered and is skipped.
type ListQuery struct {
	Prefix    string
	Delimiter string
	After     string
	Max       int
}

// ListPage is one page of a listing.
type ListPage struct {
	Objects        []Object
	CommonPrefixes []string
	// Truncated: more entries follow; Next is the last key or common
	// prefix of this page, the After of the next.
	Truncated bool
	Next      string
}

// CompletedPart names a part in CompleteMultipartUpload.
type CompletedPart struct {
	Number int
	ETag   string // hex, without quotes
}

// Part is an uploaded part.
type Part struct {
	Number       int
	ETag         string
	Size         int64
	LastModified time.Time
}

// PartsPage is one page of ListParts.
type PartsPage struct {
	Parts     []Part
	Truncated bool
}

// UploadsQuery asks for uploads with keys starting with Prefix, after
// (KeyMarker, UploadIDMarker), at most Max.
type UploadsQuery struct {
	Prefix         string
	KeyMarker      string
	UploadIDMarker string
	Max            int
}

// Upload is a multipart upload in progress.
type Upload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// UploadsPage is one page of ListMultipartUploads.
type UploadsPage struct {
	Uploads   []Upload
	Truncated bool
}

// MultipartETag is the ETag S3 gives an object assembled from parts with
// these (hex MD5) ETags: the MD5 of the parts' binary MD5s, "-" and the
// part count. Clients such as rclone and aws-cli recognise the form.
func MultipartETag(partETags []string) string {
	h := md5.New()
	for _, e := range partETags {
		b, err := hex.DecodeString(strings.Trim(e, `"`))
		if err != nil {
			// Not an MD5: hash the text, so the result stays deterministic.
			b = []byte(e)
		}
		h.Write(b)
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(partETags))
}
