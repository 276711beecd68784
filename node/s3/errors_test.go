package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestAuthErrors provokes each authentication failure.
func TestAuthErrors(t *testing.T) {
	g := newGateway(t)
	ctx := t.Context()
	must[*awss3.CreateBucketOutput](t)(g.alice().CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bkt")}))

	_, err := g.client(testKey, "wrong-secret", false).ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantCode(t, err, "SignatureDoesNotMatch")
	_, err = g.client("AKIDNOBODY", testSecret, false).ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantCode(t, err, "InvalidAccessKeyId")

	// Another account's bucket.
	_, err = g.client(otherKey, otherSecret, false).PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, err, "AccessDenied")

	// The server's clock 20 minutes ahead of the client's.
	g.skew.Store(int64(20 * time.Minute))
	_, err = g.alice().ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantCode(t, err, "RequestTimeTooSkewed")
	g.skew.Store(int64(-20 * time.Minute))
	_, err = g.alice().ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantCode(t, err, "RequestTimeTooSkewed")
	g.skew.Store(int64(14 * time.Minute))
	must[*awss3.ListBucketsOutput](t)(g.alice().ListBuckets(ctx, &awss3.ListBucketsInput{}))
	g.skew.Store(0)

	// Signed by hand with v4.Signer at a shifted time.
	req := newSignedRequest(t, g, http.MethodGet, g.srv.URL+"/", nil, time.Now().Add(-16*time.Minute), testSecret)
	wantHTTPCode(t, req, http.StatusForbidden, "RequestTimeTooSkewed")

	// Anonymous.
	resp, err := http.Get(g.srv.URL + "/bkt")
	if err != nil {
		t.Fatal(err)
	}
	checkErrorBody(t, resp, http.StatusForbidden, "AccessDenied")
}

// newSignedRequest signs a request with aws-sdk-go-v2's signer.
func newSignedRequest(t *testing.T, g *gateway, method, url string, body []byte, at time.Time, secret string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req
}

func wantHTTPCode(t *testing.T, req *http.Request, status int, code string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	checkErrorBody(t, resp, status, code)
}

// checkErrorBody checks an S3 XML error answer: status, code, request id.
func checkErrorBody(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || !strings.Contains(string(b), "<Code>"+code+"</Code>") {
		t.Fatalf("status %d body %s, want %d %s", resp.StatusCode, b, status, code)
	}
	id := resp.Header.Get("X-Amz-Request-Id")
	if id == "" || !strings.Contains(string(b), "<RequestId>"+id+"</RequestId>") {
		t.Fatalf("request id %q not in %s", id, b)
	}
}

// TestPresigned: GET and PUT URLs from the SDK's presign client, expiry.
func TestPresigned(t *testing.T) {
	g := newGateway(t)
	ctx := t.Context()
	c := g.alice()
	must[*awss3.CreateBucketOutput](t)(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bkt")}))
	ps := awss3.NewPresignClient(c)

	put := must[*v4.PresignedHTTPRequest](t)(ps.PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("a/b c")}, awss3.WithPresignExpires(time.Hour)))
	req, _ := http.NewRequest(put.Method, put.URL, strings.NewReader("presigned body"))
	for k, v := range put.SignedHeader {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT: %d", resp.StatusCode)
	}

	get := must[*v4.PresignedHTTPRequest](t)(ps.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("a/b c"),
		ResponseContentType: aws.String("text/x-test")}, awss3.WithPresignExpires(time.Hour)))
	resp, err = http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "presigned body" || resp.Header.Get("Content-Type") != "text/x-test" {
		t.Fatalf("presigned GET: %d %q %s", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}

	// An hour and a minute later, the URL has expired.
	g.skew.Store(int64(time.Hour + time.Minute))
	resp, err = http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	checkErrorBody(t, resp, http.StatusForbidden, "AccessDenied")
	g.skew.Store(0)

	// A tampered URL.
	resp, err = http.Get(strings.Replace(get.URL, "a/b%20c", "a/b%20d", 1))
	if err != nil {
		t.Fatal(err)
	}
	checkErrorBody(t, resp, http.StatusForbidden, "SignatureDoesNotMatch")

	// Longer than 7 days is refused.
	long := strings.Replace(get.URL, "X-Amz-Expires=3600", "X-Amz-Expires=604801", 1)
	resp, err = http.Get(long)
	if err != nil {
		t.Fatal(err)
	}
	checkErrorBody(t, resp, http.StatusBadRequest, "AuthorizationQueryParametersError")
}

// TestRequestErrors provokes the remaining error codes through the SDK.
func TestRequestErrors(t *testing.T) {
	g := newGateway(t, func(c *Config) { c.MaxObjectSize = 1 << 20 })
	ctx := t.Context()
	c := g.alice()
	bob := g.client(otherKey, otherSecret, false)
	must[*awss3.CreateBucketOutput](t)(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bkt")}))

	_, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bkt")})
	wantCode(t, err, "BucketAlreadyOwnedByYou")
	_, err = bob.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bkt")})
	wantCode(t, err, "BucketAlreadyExists")
	_, err = bob.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("bkt")})
	wantCode(t, err, "AccessDenied")
	for _, name := range []string{"ab", strings.Repeat("a", 64), "UPPER", "a..b", "-ab", "ab-", "192.168.1.1", "xn--abc", "a_b", "ab.-c"} {
		_, err = c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)})
		wantCode(t, err, "InvalidBucketName")
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("missing")})
	wantCode(t, err, "NoSuchKey")
	_, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("nosuchbucket")})
	wantCode(t, err, "NoSuchBucket")
	_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("nosuchbucket")})
	wantCode(t, err, "NoSuchBucket")
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")})
	wantCode(t, err, "KeyTooLongError")
	must[*awss3.PutObjectOutput](t)(c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(strings.Repeat("k", 1024)), Body: strings.NewReader("x")}))
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big"), Body: bytes.NewReader(make([]byte, 1<<20+1))})
	wantCode(t, err, "EntityTooLarge")
	_, err = c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: aws.String("nope")})
	wantCode(t, err, "NoSuchUpload")
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"big": strings.Repeat("v", 2100)}})
	wantCode(t, err, "MetadataTooLarge")
	_, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("bkt"), MaxKeys: aws.Int32(-1)})
	wantCode(t, err, "InvalidArgument")
	_, err = c.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: aws.String("bkt")})
	wantCode(t, err, "NotImplemented")
	_, err = c.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{Bucket: aws.String("bkt"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	wantCode(t, err, "NotImplemented")
	_, err = c.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	wantCode(t, err, "NotImplemented")
	v := must[*awss3.GetBucketVersioningOutput](t)(c.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: aws.String("bkt")}))
	if v.Status != "" {
		t.Fatalf("versioning %q", v.Status)
	}

	// Raw requests for what the SDK will not send.
	url := g.srv.URL
	wantHTTPCode(t, newSignedRequest(t, g, http.MethodPost, url+"/bkt?delete", []byte("<Delete><Object>"), time.Now(), testSecret), http.StatusBadRequest, "MalformedXML")
	wantHTTPCode(t, newSignedRequest(t, g, http.MethodPatch, url+"/bkt/k", nil, time.Now(), testSecret), http.StatusMethodNotAllowed, "MethodNotAllowed")
	wantHTTPCode(t, newSignedRequest(t, g, http.MethodPost, url+"/bkt/k", nil, time.Now(), testSecret), http.StatusNotImplemented, "NotImplemented")
	req := newSignedRequest(t, g, http.MethodPut, url+"/bkt/chunked", nil, time.Now(), testSecret)
	req.Body = io.NopCloser(strings.NewReader("")) // of unknown length: sent chunked
	req.ContentLength = 0
	wantHTTPCode(t, req, http.StatusLengthRequired, "MissingContentLength")
	req = newSignedRequest(t, g, http.MethodPut, url+"/bkt/k2?partNumber=0&uploadId=x", []byte("body"), time.Now(), testSecret)
	wantHTTPCode(t, req, http.StatusBadRequest, "InvalidArgument")
	// A backend that cannot be reached, one that refuses for the balance,
	// one that breaks.
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{ErrPaymentRequired, http.StatusForbidden, "PaymentRequired"},
		{ErrUnavailable, http.StatusServiceUnavailable, "ServiceUnavailable"},
		{io.ErrUnexpectedEOF, http.StatusInternalServerError, "InternalError"},
	} {
		g.backend.failPut(tc.err)
		wantHTTPCode(t, newSignedRequest(t, g, http.MethodPut, url+"/bkt/fails", []byte("body"), time.Now(), testSecret), tc.status, tc.code)
	}
	g.backend.failPut(nil)
}
