package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestSDKOperations drives every supported operation with aws-sdk-go-v2,
// path-style and virtual-host style.
func TestSDKOperations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tls, vh bool
	}{{"path", false, false}, {"virtualHost", false, true}, {"tls-path", true, false}, {"tls-virtualHost", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t)
			if tc.tls {
				g = newTLSGateway(t)
			}
			c := g.client(testKey, testSecret, tc.vh)
			ctx := t.Context()
			bucket := aws.String("photos")

			must[*awss3.CreateBucketOutput](t)(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bucket}))
			// With a LocationConstraint body.
			must[*awss3.CreateBucketOutput](t)(c.CreateBucket(ctx, &awss3.CreateBucketInput{
				Bucket: aws.String("other.bucket"),
				CreateBucketConfiguration: &types.CreateBucketConfiguration{
					LocationConstraint: types.BucketLocationConstraintEuWest1,
				},
			}))
			must[*awss3.HeadBucketOutput](t)(c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: bucket}))
			lb := must[*awss3.ListBucketsOutput](t)(c.ListBuckets(ctx, &awss3.ListBucketsInput{}))
			if len(lb.Buckets) != 2 || *lb.Buckets[0].Name != "other.bucket" || *lb.Buckets[1].Name != "photos" {
				t.Fatalf("ListBuckets: %+v", lb.Buckets)
			}
			loc := must[*awss3.GetBucketLocationOutput](t)(c.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: bucket}))
			if loc.LocationConstraint != "" {
				t.Fatalf("location %q", loc.LocationConstraint)
			}

			data := patternBytes(100_000, 1)
			put := must[*awss3.PutObjectOutput](t)(c.PutObject(ctx, &awss3.PutObjectInput{
				Bucket: bucket, Key: aws.String("dir/a b+c%.bin"), Body: bytes.NewReader(data),
				ContentType: aws.String("image/png"), ContentDisposition: aws.String("attachment"),
				CacheControl:      aws.String("max-age=60"),
				Metadata:          map[string]string{"Owner": "alice", "camera": "x100"},
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			}))
			if got := strings.Trim(*put.ETag, `"`); got != md5hex(data) {
				t.Fatalf("ETag %s, want %s", got, md5hex(data))
			}
			if put.ChecksumCRC32 == nil {
				t.Errorf("PutObject did not echo the CRC32 the SDK sent")
			}
			get := must[*awss3.GetObjectOutput](t)(c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/a b+c%.bin")}))
			got, _ := io.ReadAll(get.Body)
			get.Body.Close()
			if !bytes.Equal(got, data) {
				t.Fatal("GetObject: different bytes")
			}
			if *get.ContentType != "image/png" || *get.ContentDisposition != "attachment" || *get.CacheControl != "max-age=60" {
				t.Fatalf("GetObject headers: %v %v %v", *get.ContentType, *get.ContentDisposition, *get.CacheControl)
			}
			if get.Metadata["owner"] != "alice" || get.Metadata["camera"] != "x100" {
				t.Fatalf("user metadata %v", get.Metadata)
			}
			head := must[*awss3.HeadObjectOutput](t)(c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bucket, Key: aws.String("dir/a b+c%.bin")}))
			if *head.ContentLength != int64(len(data)) || head.Metadata["owner"] != "alice" {
				t.Fatalf("HeadObject: %d %v", *head.ContentLength, head.Metadata)
			}

			// Range reads.
			for _, rc := range []struct {
				rng       string
				off, n    int
				wantRange string
			}{
				{"bytes=0-9", 0, 10, "bytes 0-9/100000"},
				{"bytes=99990-", 99990, 10, "bytes 99990-99999/100000"},
				{"bytes=-5", 99995, 5, "bytes 99995-99999/100000"},
				{"bytes=99999-200000", 99999, 1, "bytes 99999-99999/100000"},
			} {
				out := must[*awss3.GetObjectOutput](t)(c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/a b+c%.bin"), Range: aws.String(rc.rng)}))
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if !bytes.Equal(b, data[rc.off:rc.off+rc.n]) || *out.ContentRange != rc.wantRange {
					t.Fatalf("range %s: %d bytes, Content-Range %s", rc.rng, len(b), *out.ContentRange)
				}
			}
			_, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: bucket, Key: aws.String("dir/a b+c%.bin"), Range: aws.String("bytes=100000-")})
			wantCode(t, err, "InvalidRange")

			// Copy, COPY and REPLACE directives.
			cp := must[*awss3.CopyObjectOutput](t)(c.CopyObject(ctx, &awss3.CopyObjectInput{
				Bucket: aws.String("other.bucket"), Key: aws.String("copy"), CopySource: aws.String("photos/dir/a%20b%2Bc%25.bin"),
			}))
			if strings.Trim(*cp.CopyObjectResult.ETag, `"`) != md5hex(data) {
				t.Fatalf("copy ETag %s", *cp.CopyObjectResult.ETag)
			}
			h2 := must[*awss3.HeadObjectOutput](t)(c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("other.bucket"), Key: aws.String("copy")}))
			if h2.Metadata["owner"] != "alice" {
				t.Fatalf("COPY lost metadata: %v", h2.Metadata)
			}
			must[*awss3.CopyObjectOutput](t)(c.CopyObject(ctx, &awss3.CopyObjectInput{
				Bucket: bucket, Key: aws.String("dir/a b+c%.bin"), CopySource: aws.String("/photos/dir/a%20b%2Bc%25.bin"),
				MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"new": "yes"},
				ContentType: aws.String("text/plain"),
			}))
			h3 := must[*awss3.HeadObjectOutput](t)(c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bucket, Key: aws.String("dir/a b+c%.bin")}))
			if h3.Metadata["new"] != "yes" || h3.Metadata["owner"] != "" || *h3.ContentType != "text/plain" {
				t.Fatalf("REPLACE: %v %s", h3.Metadata, *h3.ContentType)
			}
			_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: bucket, Key: aws.String("x"), CopySource: aws.String("photos/missing")})
			wantCode(t, err, "NoSuchKey")
			_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: bucket, Key: aws.String("x"), CopySource: aws.String("photos/dir/a%20b%2Bc%25.bin"), CopySourceIfMatch: aws.String(`"nope"`)})
			wantCode(t, err, "PreconditionFailed")

			// Delete one, then several.
			must[*awss3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("other.bucket"), Key: aws.String("copy")}))
			must[*awss3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("other.bucket"), Key: aws.String("never-was")}))
			for i := range 3 {
				must[*awss3.PutObjectOutput](t)(c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bucket, Key: aws.String(fmt.Sprintf("del/%d", i)), Body: strings.NewReader("x")}))
			}
			del := must[*awss3.DeleteObjectsOutput](t)(c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{
				Objects: []types.ObjectIdentifier{{Key: aws.String("del/0")}, {Key: aws.String("del/1")}, {Key: aws.String("del/missing")}},
			}}))
			if len(del.Deleted) != 3 || len(del.Errors) != 0 {
				t.Fatalf("DeleteObjects: %d deleted, %d errors", len(del.Deleted), len(del.Errors))
			}
			delq := must[*awss3.DeleteObjectsOutput](t)(c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{
				Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{{Key: aws.String("del/2")}},
			}}))
			if len(delq.Deleted) != 0 || len(delq.Errors) != 0 {
				t.Fatalf("quiet DeleteObjects answered %d deleted", len(delq.Deleted))
			}
			lo := must[*awss3.ListObjectsV2Output](t)(c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("del/")}))
			if len(lo.Contents) != 0 {
				t.Fatalf("left after DeleteObjects: %d", len(lo.Contents))
			}

			// Bucket deletion: not while it holds objects.
			_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: bucket})
			wantCode(t, err, "BucketNotEmpty")
			must[*awss3.DeleteBucketOutput](t)(c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("other.bucket")}))
			_, err = c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("other.bucket")})
			wantCode(t, err, "NotFound") // HEAD answers carry no body
		})
	}
}

// TestConditionalReads checks If-Match, If-None-Match, If-Modified-Since
// and If-Unmodified-Since on GET and HEAD.
func TestConditionalReads(t *testing.T) {
	g := newGateway(t)
	c := g.alice()
	ctx := t.Context()
	must[*awss3.CreateBucketOutput](t)(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bk1")}))
	put := must[*awss3.PutObjectOutput](t)(c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bk1"), Key: aws.String("k"), Body: strings.NewReader("hello")}))
	etag := *put.ETag
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	cases := []struct {
		name string
		in   awss3.GetObjectInput
		code string
	}{
		{"if-match ok", awss3.GetObjectInput{IfMatch: aws.String(etag)}, ""},
		{"if-match fails", awss3.GetObjectInput{IfMatch: aws.String(`"other"`)}, "PreconditionFailed"},
		{"if-none-match matches", awss3.GetObjectInput{IfNoneMatch: aws.String(etag)}, "NotModified"},
		{"if-none-match star", awss3.GetObjectInput{IfNoneMatch: aws.String("*")}, "NotModified"},
		{"if-none-match other", awss3.GetObjectInput{IfNoneMatch: aws.String(`"other"`)}, ""},
		{"if-modified-since future", awss3.GetObjectInput{IfModifiedSince: &future}, "NotModified"},
		{"if-modified-since past", awss3.GetObjectInput{IfModifiedSince: &past}, ""},
		{"if-unmodified-since past", awss3.GetObjectInput{IfUnmodifiedSince: &past}, "PreconditionFailed"},
		{"if-unmodified-since future", awss3.GetObjectInput{IfUnmodifiedSince: &future}, ""},
		// S3's precedence: a passing If-Match overrides If-Unmodified-Since,
		// a failing If-None-Match decides over If-Modified-Since.
		{"if-match beats if-unmodified-since", awss3.GetObjectInput{IfMatch: aws.String(etag), IfUnmodifiedSince: &past}, ""},
		{"if-none-match beats if-modified-since", awss3.GetObjectInput{IfNoneMatch: aws.String(`"other"`), IfModifiedSince: &future}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Bucket, in.Key = aws.String("bk1"), aws.String("k")
			out, err := c.GetObject(ctx, &in)
			if err == nil {
				out.Body.Close()
			}
			wantCode(t, err, tc.code)
			hin := awss3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key, IfMatch: in.IfMatch, IfNoneMatch: in.IfNoneMatch,
				IfModifiedSince: in.IfModifiedSince, IfUnmodifiedSince: in.IfUnmodifiedSince}
			_, err = c.HeadObject(ctx, &hin)
			want := tc.code
			if want == "PreconditionFailed" {
				want = "PreconditionFailed"
			}
			if code := errorCode(err); want != "" && code != want && code != fmt.Sprint(http.StatusText(0)) {
				// HEAD has no body: the SDK names the status.
				if !(want == "NotModified" && code == "NotModified") && !(want == "PreconditionFailed" && code == "PreconditionFailed") {
					t.Fatalf("HEAD: %q, want %s", code, want)
				}
			}
			if want == "" && err != nil {
				t.Fatalf("HEAD: %v", err)
			}
		})
	}
}
